"""The CUDA backend's host side against a fake driver, with the real NVRTC.

No GPU is needed: device memory is host memory here, and a launch decodes its parameter block
instead of running. This checks what can break without a GPU: the driver calls' argument and
result handling, memory round trips, pool retry on out-of-memory, and that every launch passes
one value per kernel parameter, in order, with live buffers. The kernels' numbers are checked
on a real GPU with `pytest tests --device cuda`.
"""
import ctypes
import enum
import importlib.util
import types

import numpy as np
import pytest

import cltorch
from cltorch.backend import cuda as cuda_backend
from cltorch.backend import registry

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cuda") is None,
                                reason="cuda-python (NVRTC) not installed")


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_INVALID_VALUE = 1


class FakeDriver(types.SimpleNamespace):
    """The subset of cuda.bindings.driver that the backend calls, over host memory."""

    def __init__(self, capacity=1 << 20):
        super().__init__(CUresult=CUresult, cuuint64_t=int, capacity=capacity, live={},
                         launches=[], modules=[], trimmed=0)
        attrs = ["COMPUTE_CAPABILITY_MAJOR", "COMPUTE_CAPABILITY_MINOR", "MULTIPROCESSOR_COUNT",
                 "CLOCK_RATE", "MAX_SHARED_MEMORY_PER_BLOCK", "MAX_THREADS_PER_BLOCK"]
        self.CUdevice_attribute = types.SimpleNamespace(
            **{f"CU_DEVICE_ATTRIBUTE_{a}": a for a in attrs})
        self.CUmemPool_attribute = types.SimpleNamespace(CU_MEMPOOL_ATTR_RELEASE_THRESHOLD=1,
                                                         CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT=5)

    ok = CUresult.CUDA_SUCCESS

    def cuInit(self, flags): return (self.ok,)
    def cuDeviceGetCount(self): return (self.ok, 1)
    def cuDeviceGet(self, i): return (self.ok, 100 + i)
    def cuDevicePrimaryCtxRetain(self, dev): return (self.ok, "ctx")
    def cuCtxSetCurrent(self, ctx): return (self.ok,)
    def cuStreamCreate(self, flags): return (self.ok, "stream")
    def cuDeviceGetDefaultMemPool(self, dev): return (self.ok, "pool")
    def cuMemPoolSetAttribute(self, pool, attr, value): return (self.ok,)

    def cuMemPoolGetAttribute(self, pool, attr):
        assert attr == 5  # reserved memory: what the pool holds (here: what is live)
        return (self.ok, sum(b._length_ for b in self.live.values()))
    def cuDriverGetVersion(self): return (self.ok, 13000)
    def cuDeviceGetName(self, n, dev): return (self.ok, b"Fake GPU\0\0")
    def cuDeviceTotalMem(self, dev): return (self.ok, self.capacity)
    def cuStreamSynchronize(self, stream): return (self.ok,)
    def cuGetErrorName(self, err): return (self.ok, CUresult(err).name.encode())

    def cuDeviceGetAttribute(self, attr, dev):
        return (self.ok, {"COMPUTE_CAPABILITY_MAJOR": 9, "COMPUTE_CAPABILITY_MINOR": 0,
                          "MULTIPROCESSOR_COUNT": 132, "CLOCK_RATE": 1980000,
                          "MAX_SHARED_MEMORY_PER_BLOCK": 49152,
                          "MAX_THREADS_PER_BLOCK": 1024}[attr])

    def cuMemAllocAsync(self, nbytes, stream):
        if sum(b._length_ for b in self.live.values()) + nbytes > self.capacity:
            return (CUresult.CUDA_ERROR_OUT_OF_MEMORY, 0)
        block = (ctypes.c_char * nbytes)()
        self.live[ctypes.addressof(block)] = block
        return (self.ok, ctypes.addressof(block))

    def cuMemFreeAsync(self, ptr, stream):
        del self.live[ptr]
        return (self.ok,)

    def cuMemPoolTrimTo(self, pool, size):
        self.trimmed += 1
        return (self.ok,)

    def _check_range(self, ptr, nbytes):
        assert any(p <= ptr and ptr + nbytes <= p + b._length_ for p, b in self.live.items())

    def cuMemcpyHtoDAsync(self, dst, src, nbytes, stream):
        self._check_range(dst, nbytes)
        ctypes.memmove(dst, src, nbytes)
        return (self.ok,)

    def cuMemcpyDtoHAsync(self, dst, src, nbytes, stream):
        self._check_range(src, nbytes)
        ctypes.memmove(dst, src, nbytes)
        return (self.ok,)

    def cuModuleLoadData(self, image):
        assert bytes(image[:4]) == b"\x7fELF"  # a real cubin from NVRTC
        self.modules.append(image)
        return (self.ok, len(self.modules))

    def cuModuleGetFunction(self, module, name):
        return (self.ok, (module, name.decode()))

    def cuLaunchKernel(self, f, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        # the parameter block lives only during the call: copy out 8 bytes per parameter
        count = len(next(k for k in self.kernels() if k[0] == f)[1])
        pointers = (ctypes.c_uint64 * count).from_address(params)
        self.launches.append((f, gx, bx, [ctypes.string_at(p, 8) for p in pointers]))
        return (self.ok,)


@pytest.fixture
def fake(monkeypatch):
    from cuda.bindings import nvrtc
    driver = FakeDriver()
    monkeypatch.setattr(cuda_backend, "_bindings", lambda: (driver, nvrtc))
    driver.kernels = lambda: registry.get("cuda").kernels.values()
    opened = dict(registry._opened)
    _forget_devices()
    yield driver
    _forget_devices()
    registry._opened.update(opened)  # the devices other tests hold tensors on


def _forget_devices():
    for cached in (cuda_backend.device_count, registry.accelerators):
        cached.cache_clear()
    registry._opened.clear()


def _decode(raw, types_):
    """The values a launch passed, from the bytes each parameter pointer pointed to."""
    return [np.frombuffer(b[:t.itemsize], t)[0] for b, t in zip(raw, types_)]


def test_device_info_and_round_trip(fake):
    assert cltorch.cuda.is_available() and cltorch.cuda.device_count() == 1
    info = registry.get("cuda").info()
    assert (info.name, info.compute_units, info.clock_mhz) == ("Fake GPU", 132, 1980)
    x = cltorch.tensor([[1.5, 2.5], [3.5, 4.5]], device="cuda")
    assert x.device == cltorch.device("cuda:0") and x.tolist() == [[1.5, 2.5], [3.5, 4.5]]
    assert x[1].tolist() == [3.5, 4.5]  # download at an offset
    del x
    assert not fake.live  # freed on the stream when collected


def test_launch_passes_one_value_per_parameter(fake):
    x = cltorch.tensor([1.0, 2.0, 3.0], device="cuda")
    y = cltorch.tensor([[1.0], [2.0]], device="cuda")
    z = cltorch.add(x, y, alpha=2.0)  # broadcast: a strided launch with a scalar
    (function, grid, block, params), = fake.launches
    kernel = next(k for k in registry.get("cuda").kernels.values() if k[0] == function)
    values = _decode(params, kernel[1])
    assert function[1] == "pointwise_add" and block == 256 and grid == 1
    # out (contiguous): ptr, offset; x and y (broadcast, strided): ptr, offset, 2 strides each;
    # alpha; then n and the two collapsed sizes
    as_ints = [int(v) for v in values]
    assert as_ints[0] == z._storage.buffer.ptr and as_ints[1] == 0
    assert as_ints[2] == x._storage.buffer.ptr and as_ints[3:6] == [0, 0, 1]
    assert as_ints[6] == y._storage.buffer.ptr and as_ints[7:10] == [0, 1, 0]
    assert float(values[10]) == 2.0 and as_ints[11:] == [6, 2, 3]
    assert len(values) == 14


def test_a_launch_with_an_empty_tensor_passes_a_null_pointer(fake):
    """An empty storage has no buffer: its parameter is a null pointer, not a TypeError."""
    total = cltorch.zeros(0, 3, device="cuda").sum(0)
    assert tuple(total.shape) == (3,)
    kernels = {k[0]: k[1] for k in registry.get("cuda").kernels.values()}
    (function, _, _, params), = [launch for launch in fake.launches
                                 if launch[0][1] == "reduce_sum"]
    out, source = _decode(params, kernels[function])[:2]  # the reduction's two buffers
    assert out == total._storage.buffer.ptr and source == 0


def test_out_of_memory_trims_pool_then_raises(fake):
    keep = cltorch.ones(16, device="cuda")
    with pytest.raises(cltorch.OutOfMemoryError, match="cuda:0 out of memory"):
        cltorch.empty(1 << 21, device="cuda")
    assert fake.trimmed == 1 and keep._storage.buffer.ptr in fake.live


def test_torch_cuda_namespace_on_the_cuda_backend(fake):
    """With an NVIDIA driver, cuda names the CUDA backend's GPUs, and torch.cuda's memory and
    device queries go to the driver."""
    cuda = cltorch.cuda
    assert cuda.is_available() and cuda.device_count() == 1
    assert registry.accelerators() == (registry._open("cuda", 0),)  # the backend device
    assert cuda.get_device_capability(0) == (9, 0) and cuda.get_device_name() == "Fake GPU"
    props = cuda.get_device_properties(0)
    assert (props.major, props.minor, props.multi_processor_count) == (9, 0, 132)
    x = cltorch.empty(1000, device="cuda")
    assert cuda.memory_allocated() == 4000 and cuda.memory_reserved() == 4000
    trims = fake.trimmed
    cuda.empty_cache()
    assert fake.trimmed == trims + 1
    del x
    assert cuda.memory_allocated() == 0
