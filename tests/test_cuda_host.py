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
import threading
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
        self.CUfunction_attribute = types.SimpleNamespace(
            CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK="max threads")
        self.CUmemAllocationType = types.SimpleNamespace(CU_MEM_ALLOCATION_TYPE_PINNED=1)
        self.CUmemAllocationHandleType = types.SimpleNamespace(CU_MEM_HANDLE_TYPE_NONE=0)
        self.CUmemLocationType = types.SimpleNamespace(CU_MEM_LOCATION_TYPE_DEVICE=1)
        self.context = object()  # this fake's one context
        self.current = {}  # thread id -> context made current there
        self.pools = []  # the properties of each pool created
        self.block_limit = 1024  # what cuFuncGetAttribute says of every function

    ok = CUresult.CUDA_SUCCESS

    def cuInit(self, flags): return (self.ok,)
    def cuDeviceGetCount(self): return (self.ok, 1)
    def cuDeviceGet(self, i): return (self.ok, 100 + i)
    def cuDevicePrimaryCtxRetain(self, dev): return (self.ok, self.context)
    def cuStreamCreate(self, flags): return (self.ok, "stream")
    def cuMemPoolSetAttribute(self, pool, attr, value): return (self.ok,)
    def cuFuncGetAttribute(self, attr, f): return (self.ok, self.block_limit)

    def cuCtxSetCurrent(self, ctx):
        self.current[threading.get_ident()] = ctx
        return (self.ok,)

    def cuCtxPushCurrent(self, ctx):
        self.current.setdefault(("stack", threading.get_ident()), []).append(
            self.current.get(threading.get_ident()))
        return self.cuCtxSetCurrent(ctx)

    def cuCtxPopCurrent(self):
        return self.cuCtxSetCurrent(self.current[("stack", threading.get_ident())].pop())

    def _in_context(self):
        assert self.current.get(threading.get_ident()) is self.context, "no context current"

    def CUmemPoolProps(self):
        return types.SimpleNamespace(location=types.SimpleNamespace())

    def cuMemPoolCreate(self, props):
        self.pools.append(props)
        return (self.ok, "pool")

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

    def cuMemAllocFromPoolAsync(self, nbytes, pool, stream):
        self._in_context()
        assert pool == "pool"
        if sum(b._length_ for b in self.live.values()) + nbytes > self.capacity:
            return (CUresult.CUDA_ERROR_OUT_OF_MEMORY, 0)
        block = (ctypes.c_char * nbytes)()
        self.live[ctypes.addressof(block)] = block
        return (self.ok, ctypes.addressof(block))

    def cuMemFreeAsync(self, ptr, stream):
        self._in_context()
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
        self._in_context()
        # the parameter block is reused by the next launch: copy out 8 bytes per parameter
        count = len(next(k for k in self.kernels() if k.function == f).types)
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
    kernel = next(k for k in registry.get("cuda").kernels.values() if k.function == function)
    values = _decode(params, kernel.types)
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
    kernels = {k.function: k.types for k in registry.get("cuda").kernels.values()}
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


def test_other_threads_get_the_context_made_current(fake):
    """CUDA's current context is per thread: a thread that did not open the device must still
    allocate, launch, free and download in the device's context (the fake asserts it)."""
    x = cltorch.ones(4, device="cuda")
    launched, failed = len(fake.launches), []

    def work():
        try:
            y = x * 2.0
            y.sum().tolist()
            del y  # freed in this thread
        except BaseException as exc:  # reported below
            failed.append(exc)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert failed == [] and len(fake.launches) == launched + 2


def test_a_pool_of_its_own_leaves_the_default_pool_alone(fake):
    """cltorch's caching settings apply to its own pool, never to the device's default pool
    (the fake has no cuDeviceGetDefaultMemPool: calling it fails)."""
    cltorch.ones(4, device="cuda")
    (props,) = fake.pools
    assert (props.location.type, props.location.id, props.allocType) == (1, 0, 1)


def test_uploads_do_not_wait_for_the_device(fake):
    waits = []
    fake.cuStreamSynchronize = lambda stream: waits.append(stream) or (fake.ok,)
    host = np.arange(6.0, dtype=np.float32)
    x = cltorch.tensor(host, device="cuda")
    host[:] = -1  # the driver staged the pageable bytes before the copy call returned
    assert waits == []
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and len(waits) == 1


def test_parameter_block_packs_every_slot_type():
    """Each parameter has an 8-byte slot; values struct cannot take (a NumPy float for an
    integer) go through NumPy, as the launch did before."""
    buffer = types.SimpleNamespace(ptr=0xDEAD0000)
    argtypes = (None, np.int64, np.float32, np.int32, np.float64, np.uint8, None)
    kernel = cuda_backend.CUDAKernel("f", None, argtypes, 1024)
    for args in ([buffer, 7, 1.5, -3, 2.25, 255, None],
                 [buffer, np.float64(7.0), np.float32(1.5), np.int64(-3), 2.25, 255, None]):
        kernel.pack(args)
        raw = [ctypes.string_at(p, 8) for p in
               (ctypes.c_uint64 * len(argtypes)).from_address(kernel.pointers)]
        assert _decode(raw, kernel.types) == [0xDEAD0000, 7, 1.5, -3, 2.25, 255, 0]


def test_gpus_newer_than_nvrtc_get_ptx_and_older_ones_a_clear_error():
    known = cuda_backend.nvrtc_architectures()
    assert cuda_backend.compile_target(f"sm_{max(known)}") == f"sm_{max(known)}"
    assert cuda_backend.compile_target("sm_990") == f"compute_{max(known)}"
    with pytest.raises(cltorch.backend.BackendUnavailable, match="NVRTC 12"):
        cuda_backend.compile_target(f"sm_{min(known) - 5}")
    ptx = cuda_backend.nvrtc_compile('extern "C" __global__ void k(float* x) { x[0] = 1; }',
                                     "k", f"compute_{max(known)}", cache=False)
    assert b".entry k" in ptx and ptx.endswith(b"\0")  # text the driver compiles at load


def test_a_driver_older_than_nvrtc_is_refused_at_open(fake):
    fake.cuDriverGetVersion = lambda: (fake.ok, (cuda_backend.nvrtc_version()[0] - 1) * 1000)
    with pytest.raises(cltorch.backend.BackendUnavailable, match="update the driver"):
        cltorch.ones(1, device="cuda")


def test_a_failed_free_is_a_warning(fake):
    x = cltorch.ones(4, device="cuda")
    fake.cuMemFreeAsync = lambda ptr, stream: (CUresult.CUDA_ERROR_INVALID_VALUE,)
    with pytest.warns(RuntimeWarning, match="CUDA_ERROR_INVALID_VALUE"):
        del x


def test_kernels_launch_within_their_own_thread_limit(fake):
    fake.block_limit = 128  # a function whose registers allow 128 threads
    cltorch.ones(1000, device="cuda") * 2.0
    assert {block for _, _, block, _ in fake.launches} == {128}
