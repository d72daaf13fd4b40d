"""CUDA through NVIDIA's cuda-python: the driver API (``cuda.bindings.driver``) and NVRTC.

The same rendered templates as OpenCL, compiled by NVRTC to a cubin for the device's
architecture and kept on disk (key: source, options, architecture, NVRTC, driver and cltorch
versions). Memory comes from the device's stream-ordered pool (cuMemAllocAsync) on one stream per
device; nothing waits for the device except ``download``.
"""
from __future__ import annotations

import functools
import weakref

import numpy as np

from . import binary_cache
from .base import (BackendUnavailable, CompileError, Device, DeviceInfo, OutOfMemoryError,
                   check_not_forked, grid_size, initial_limit)

BLOCK_SIZE = 256
NVRTC_OPTIONS = ("--fmad=false",)  # no contraction into FMA: the same numbers as OpenCL/NumPy


def _bindings():
    try:
        from cuda.bindings import driver, nvrtc
    except ImportError:  # pragma: no cover - depends on the environment
        raise BackendUnavailable("the cuda backend needs NVIDIA's cuda-python and NVRTC: "
                                 "pip install 'cltorch[cuda]'") from None
    return driver, nvrtc


def _check(result):
    """Unpack a cuda-python call's (error, *values) tuple, raising on a driver error."""
    driver, _ = _bindings()
    err, values = result[0], result[1:]
    if err != driver.CUresult.CUDA_SUCCESS:
        name = driver.cuGetErrorName(err)[1]
        raise RuntimeError(f"CUDA error {name.decode() if name else int(err)}")
    return values[0] if len(values) == 1 else values


@functools.lru_cache(maxsize=None)
def device_count() -> int:
    """Number of CUDA devices; 0 without cuda-python, a driver or a GPU."""
    try:
        driver, _ = _bindings()
        _check(driver.cuInit(0))
        return int(_check(driver.cuDeviceGetCount()))
    except Exception:
        return 0


def nvrtc_version() -> tuple:
    _, nvrtc = _bindings()
    err, major, minor = nvrtc.nvrtcVersion()
    return (major, minor)


def nvrtc_compile(source: str, name: str, arch: str, cache: bool = True) -> bytes:
    """Compile ``source`` with NVRTC to a cubin for ``arch`` (e.g. ``"sm_90"``); needs no GPU.

    Binaries are kept on disk under the cache directory, keyed by everything that changes them.
    """
    options = (f"--gpu-architecture={arch}",) + NVRTC_OPTIONS
    name_on_disk = binary_cache.key(source, options, nvrtc_version(), _driver_version())
    binary = binary_cache.load("cuda", name_on_disk) if cache else None
    if binary is None:
        binary = _nvrtc_build(source, name, options)
        if cache:
            binary_cache.store("cuda", name_on_disk, binary)
    return binary


def _nvrtc_build(source: str, name: str, options: tuple) -> bytes:
    _, nvrtc = _bindings()
    prog = _check(nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], []))
    try:
        err, = nvrtc.nvrtcCompileProgram(prog, len(options), [o.encode() for o in options])
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            size = nvrtc.nvrtcGetProgramLogSize(prog)[1]
            log = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, log)
            raise CompileError("cuda", name, log.decode(errors="replace").strip(), source)
        size = nvrtc.nvrtcGetCUBINSize(prog)[1]
        binary = b" " * size
        nvrtc.nvrtcGetCUBIN(prog, binary)
        return binary
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _driver_version() -> int:
    try:
        driver, _ = _bindings()
        return int(_check(driver.cuDriverGetVersion()))
    except Exception:
        return 0  # no driver: the binary is only compiled (tests), never loaded


class CUDABuffer:
    """Device memory from the stream-ordered pool, freed on the stream when collected."""

    __slots__ = ("ptr", "nbytes", "__weakref__")

    def __init__(self, driver, ptr: int, nbytes: int, stream):
        self.ptr, self.nbytes = ptr, nbytes
        weakref.finalize(self, driver.cuMemFreeAsync, ptr, stream)


class CUDADevice(Device):
    kind = "cuda"

    def __init__(self, index: int):
        super().__init__(index)
        if index >= device_count():
            raise RuntimeError(f"cuda:{index} does not exist: {device_count()} CUDA device(s) "
                               "found (see `cltorch devices`)")
        self.driver = driver = _bindings()[0]
        self.device = _check(driver.cuDeviceGet(index))
        self.context = _check(driver.cuDevicePrimaryCtxRetain(self.device))
        _check(driver.cuCtxSetCurrent(self.context))
        self.stream = _check(driver.cuStreamCreate(0))
        self.pool = _check(driver.cuDeviceGetDefaultMemPool(self.device))
        keep = driver.cuuint64_t(2 ** 64 - 1)  # keep freed memory cached in the pool
        _check(driver.cuMemPoolSetAttribute(
            self.pool, driver.CUmemPool_attribute.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, keep))
        major = self._attribute("COMPUTE_CAPABILITY_MAJOR")
        self.arch = f"sm_{major}{self._attribute('COMPUTE_CAPABILITY_MINOR')}"
        self.max_groups = 2 ** 20  # one item per thread; the grid-stride loop covers the rest
        self.compute_units = self._attribute("MULTIPROCESSOR_COUNT")
        initial_limit(self)

    def _attribute(self, name: str) -> int:
        """A device attribute; 0 for one this driver's bindings no longer have (CLOCK_RATE)."""
        attr = getattr(self.driver.CUdevice_attribute, f"CU_DEVICE_ATTRIBUTE_{name}", None)
        if attr is None:
            return 0
        return int(_check(self.driver.cuDeviceGetAttribute(attr, self.device)))

    def info(self) -> DeviceInfo:
        d = self.driver
        name = _check(d.cuDeviceGetName(256, self.device)).split(b"\0")[0].decode()
        return DeviceInfo(
            "cuda", self.index, name, vendor="NVIDIA", type="GPU",
            compute_units=self._attribute("MULTIPROCESSOR_COUNT"),
            clock_mhz=self._attribute("CLOCK_RATE") // 1000,
            global_mem_bytes=int(_check(d.cuDeviceTotalMem(self.device))),
            local_mem_bytes=self._attribute("MAX_SHARED_MEMORY_PER_BLOCK"),
            max_alloc_bytes=int(_check(d.cuDeviceTotalMem(self.device))),
            max_work_group_size=self._attribute("MAX_THREADS_PER_BLOCK"), fp64=True, fp16=True,
            version=f"{self.arch}, NVRTC {'.'.join(map(str, nvrtc_version()))}",
            driver=str(_driver_version()))

    def allocate(self, nbytes: int):
        if nbytes == 0:
            return None
        check_not_forked(self.kind)
        self.check_limit(nbytes)
        d = self.driver
        err, ptr = d.cuMemAllocAsync(nbytes, self.stream)
        if err == d.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
            self.synchronize()  # let pending frees land, give cached blocks back, try once more
            _check(d.cuMemPoolTrimTo(self.pool, 0))
            err, ptr = d.cuMemAllocAsync(nbytes, self.stream)
            if err == d.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
                raise OutOfMemoryError(f"cuda:{self.index} out of memory allocating "
                                       f"{nbytes} bytes")
        _check((err,))
        return CUDABuffer(d, int(ptr), nbytes, self.stream)

    def upload(self, host: np.ndarray, blocking: bool = True):
        buffer = self.allocate(host.nbytes)
        if buffer is not None:
            _check(self.driver.cuMemcpyHtoDAsync(buffer.ptr, host.ctypes.data, host.nbytes,
                                                 self.stream))
            # always waits, non_blocking too: nothing here would keep ``host`` alive until
            # the stream reaches the copy (pyopencl's events do that for OpenCL)
            self.synchronize()
        return buffer

    def download(self, buffer, offset_bytes: int, out: np.ndarray) -> np.ndarray:
        if out.nbytes:
            _check(self.driver.cuMemcpyDtoHAsync(out.ctypes.data, buffer.ptr + offset_bytes,
                                                 out.nbytes, self.stream))
        if out.nbytes or self.errors.pending:
            self.synchronize()
        return out

    def read_async(self, buffer, out: np.ndarray) -> None:
        _check(self.driver.cuMemcpyDtoHAsync(out.ctypes.data, buffer.ptr, out.nbytes,
                                             self.stream))

    def compile(self, source: str, name: str, argtypes: tuple):
        binary = nvrtc_compile(source, name, self.arch)
        module = _check(self.driver.cuModuleLoadData(binary))
        function = _check(self.driver.cuModuleGetFunction(module, name.encode()))
        types = [np.dtype(np.uint64) if t is None else np.dtype(t) for t in argtypes]
        return (function, types, module)

    def launch(self, kernel, n_items: int, args, local=None) -> None:
        function, types, _ = kernel
        # an empty storage's buffer is None: a null pointer the kernel never reads
        values = [np.array([a.ptr if isinstance(a, CUDABuffer) else 0 if a is None else a],
                           dtype=t) for a, t in zip(args, types)]
        pointers = np.array([v.ctypes.data for v in values], dtype=np.uint64)
        block = local or BLOCK_SIZE
        groups = grid_size(n_items, block, self.max_groups) // block
        _check(self.driver.cuLaunchKernel(function, groups, 1, 1, block, 1, 1, 0, self.stream,
                                          pointers.ctypes.data, 0))

    def synchronize(self) -> None:
        checks = self.errors.read_before_wait()
        _check(self.driver.cuStreamSynchronize(self.stream))
        self.errors.raise_after_wait(checks)

    def release_cached(self) -> None:
        self.synchronize()  # frees still queued on the stream land first
        _check(self.driver.cuMemPoolTrimTo(self.pool, 0))

    def reserved_bytes(self) -> int:
        attr = self.driver.CUmemPool_attribute.CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT
        return max(self.memory[0], int(_check(self.driver.cuMemPoolGetAttribute(self.pool,
                                                                                 attr))))
