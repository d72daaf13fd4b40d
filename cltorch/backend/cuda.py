"""CUDA through NVIDIA's cuda-python: the driver API (``cuda.bindings.driver``) and NVRTC.

The same rendered templates as OpenCL, compiled by NVRTC to a cubin for the device's
architecture (PTX for a GPU newer than NVRTC) and kept on disk (key: source, options,
architecture, NVRTC, driver and cltorch versions). Memory comes from a stream-ordered pool of
cltorch's own (cuMemAllocFromPoolAsync) on one stream per device; nothing waits for the device
except ``download`` and ``synchronize``. Every driver call runs in the device's context, made
current in the calling thread first.
"""
from __future__ import annotations

import ctypes
import functools
import struct
import threading
import warnings
import weakref

import numpy as np

from . import binary_cache
from .capture import ACTIVE as _CAPTURING
from .base import (READ_BACK, BackendUnavailable, CompileError, Device, DeviceInfo,
                   OutOfMemoryError, check_not_forked, grid_size, initial_limit, remember)

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


def _nvrtc_check(result):
    """Unpack an NVRTC call's (result, *values) tuple, raising on an NVRTC error."""
    _, nvrtc = _bindings()
    err, values = result[0], result[1:]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"NVRTC error {nvrtc.nvrtcGetErrorString(err)[1].decode()}")
    return values[0] if len(values) == 1 else values


@functools.lru_cache(maxsize=None)
def nvrtc_version() -> tuple:
    _, nvrtc = _bindings()
    return tuple(_nvrtc_check(nvrtc.nvrtcVersion()))


@functools.lru_cache(maxsize=None)
def nvrtc_architectures() -> tuple:
    """The sm_XY numbers this NVRTC compiles machine code for (NVRTC 13: 75 and newer)."""
    _, nvrtc = _bindings()
    return tuple(int(a) for a in _nvrtc_check(nvrtc.nvrtcGetSupportedArchs()))


def compile_target(arch: str) -> str:
    """What NVRTC builds for a device of ``arch``: its own cubin where NVRTC knows the
    architecture; PTX for NVRTC's newest one, which the driver compiles at load, for a GPU
    newer than NVRTC; an error naming the fix for a GPU older than NVRTC supports."""
    number, known = int(arch[3:]), nvrtc_architectures()
    if number in known:
        return arch
    if number > max(known):
        return f"compute_{max(known)}"
    version = ".".join(map(str, nvrtc_version()))
    raise BackendUnavailable(
        f"this GPU is {arch}, and NVRTC {version} builds for sm_{min(known)} and newer; "
        f"NVRTC 12 (pip install 'cuda-python<13' nvidia-cuda-nvrtc-cu12) still targets it")


def nvrtc_compile(source: str, name: str, arch: str, cache: bool = True) -> bytes:
    """Compile ``source`` with NVRTC for ``arch``: a cubin for ``"sm_90"``, NUL-terminated PTX
    for ``"compute_90"``; needs no GPU.

    Binaries are kept on disk under the cache directory, keyed by everything that changes them.
    """
    options = (f"--gpu-architecture={arch}",) + NVRTC_OPTIONS
    name_on_disk = binary_cache.key(source, options, nvrtc_version(), _driver_version())
    binary = binary_cache.load("cuda", name_on_disk) if cache else None
    if binary is None:
        binary = _nvrtc_build(source, name, options, ptx=arch.startswith("compute_"))
        if cache:
            binary_cache.store("cuda", name_on_disk, binary)
    return binary


def _nvrtc_build(source: str, name: str, options: tuple, ptx: bool = False) -> bytes:
    _, nvrtc = _bindings()
    prog = _nvrtc_check(nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0,
                                                 [], []))
    try:
        err, = nvrtc.nvrtcCompileProgram(prog, len(options), [o.encode() for o in options])
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            log = b" " * _nvrtc_check(nvrtc.nvrtcGetProgramLogSize(prog))
            _nvrtc_check(nvrtc.nvrtcGetProgramLog(prog, log))
            raise CompileError("cuda", name, log.decode(errors="replace").strip(), source)
        size_of, get = ((nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX) if ptx else
                        (nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN))
        binary = b" " * _nvrtc_check(size_of(prog))
        _nvrtc_check(get(prog, binary))
        return binary
    finally:
        _nvrtc_check(nvrtc.nvrtcDestroyProgram(prog))


def _driver_version() -> int:
    try:
        driver, _ = _bindings()
        return int(_check(driver.cuDriverGetVersion()))
    except Exception:
        return 0  # no driver: the binary is only compiled (tests), never loaded


_this_thread = threading.local()  # .context: the context this thread last made current here

# struct codes of one 8-byte kernel parameter slot, by (NumPy kind, item size)
_SLOT_CODES = {("f", 2): "e", ("f", 4): "f", ("f", 8): "d", ("b", 1): "?",
               ("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
               ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q"}


def _free(driver, ptr: int, stream, context) -> None:
    """A buffer's finalizer: free it on the stream, in its context (the collecting thread may
    have another one current); a failure is a warning, since a finalizer cannot raise."""
    if getattr(_this_thread, "context", None) is context:
        result = driver.cuMemFreeAsync(ptr, stream)[0]
    else:
        result = driver.cuCtxPushCurrent(context)[0]
        if not result:
            result = driver.cuMemFreeAsync(ptr, stream)[0]
            driver.cuCtxPopCurrent()
    deinitialized = getattr(driver.CUresult, "CUDA_ERROR_DEINITIALIZED", None)
    if result and result != deinitialized:  # at interpreter exit the driver may be gone
        warnings.warn(f"cltorch: freeing a CUDA buffer failed: {_error_name(driver, result)}",
                      RuntimeWarning, stacklevel=1)


def _error_name(driver, err) -> str:
    name = driver.cuGetErrorName(err)[1]
    return name.decode() if name else str(int(err))


class CUDABuffer:
    """Device memory from cltorch's stream-ordered pool, freed on the stream when collected."""

    __slots__ = ("ptr", "nbytes", "__weakref__")

    def __init__(self, device, ptr: int, nbytes: int):
        self.ptr, self.nbytes = ptr, nbytes
        weakref.finalize(self, _free, device.driver, ptr, device.stream, device.context)


class CUDAKernel:
    """A compiled function and its parameter block, packed in place at each launch.

    cuLaunchKernel reads an array of pointers, one per parameter. Each parameter here has an
    8-byte slot in one block that lives as long as the kernel, so the pointer array is built
    once and a launch is one ``struct.pack_into`` (NumPy arrays per argument cost about 10 us
    per launch). Callers hold the device's launch lock: the block is shared."""

    __slots__ = ("function", "module", "types", "buffers", "limit", "grids", "_block",
                 "_pointers", "pointers", "pack")

    def __init__(self, function, module, argtypes, limit: int):
        self.function, self.module, self.limit = function, module, limit
        self.buffers = [t is None for t in argtypes]  # a buffer's slot holds its address
        self.types = types = [_POINTER if t is None else np.dtype(t) for t in argtypes]
        self.grids = {}  # item count -> number of blocks of a default launch
        count = max(1, len(types))
        self._block = ctypes.create_string_buffer(8 * count)
        base = ctypes.addressof(self._block)
        self._pointers = (ctypes.c_void_p * count)(*[base + 8 * i for i in range(count)])
        self.pointers = ctypes.addressof(self._pointers)
        codes = [_SLOT_CODES.get((t.kind, t.itemsize)) for t in types]
        if None in codes:  # a type struct cannot pack: NumPy does it, slowly
            self.pack = self._pack_with_numpy
            return
        layout = struct.Struct("<" + "".join(c + "x" * (8 - struct.calcsize(c)) for c in codes))
        values = ", ".join(f"0 if a[{i}] is None else a[{i}].ptr" if buffer else f"a[{i}]"
                           for i, buffer in enumerate(self.buffers))
        code = ["def pack(a):",
                "    try:",
                f"        pack_into(block, 0, {values})",
                "    except (struct_error, AttributeError):",  # a NumPy float for an int...
                "        fallback(a)"]
        scope = {"pack_into": layout.pack_into, "block": self._block, "struct_error": struct.error,
                 "fallback": self._pack_with_numpy}
        exec("\n".join(code), scope)  # noqa: S102 - our own fixed text, as OpenCL's _Arguments
        self.pack = scope["pack"]

    def _pack_with_numpy(self, args) -> None:
        for i, (a, t, buffer) in enumerate(zip(args, self.types, self.buffers)):
            value = (0 if a is None else getattr(a, "ptr", a)) if buffer else a
            raw = np.array([value], dtype=t).tobytes()
            ctypes.memmove(ctypes.addressof(self._block) + 8 * i, raw, len(raw))


_POINTER = np.dtype(np.uint64)  # a buffer parameter's slot


class CUDADevice(Device):
    kind = "cuda"

    def __init__(self, index: int):
        super().__init__(index)
        if index >= device_count():
            raise RuntimeError(f"cuda:{index} does not exist: {device_count()} CUDA device(s) "
                               "found (see `cltorch devices`)")
        self.driver = driver = _bindings()[0]
        _check_versions()
        self.device = _check(driver.cuDeviceGet(index))
        self.context = _check(driver.cuDevicePrimaryCtxRetain(self.device))
        self._use()
        self.stream = _check(driver.cuStreamCreate(0))
        self.pool = self._own_pool()
        major = self._attribute("COMPUTE_CAPABILITY_MAJOR")
        self.arch = f"sm_{major}{self._attribute('COMPUTE_CAPABILITY_MINOR')}"
        self.target = compile_target(self.arch)
        self.max_groups = 2 ** 20  # one item per thread; the grid-stride loop covers the rest
        self.compute_units = self._attribute("MULTIPROCESSOR_COUNT")
        self.local_memory = self._attribute("MAX_SHARED_MEMORY_PER_BLOCK")
        self.launching = threading.Lock()
        initial_limit(self)

    def _use(self) -> None:
        """Make this device's context current in the calling thread (CUDA keeps one per
        thread: another thread, or another GPU used last, would leave the wrong one)."""
        if getattr(_this_thread, "context", None) is not self.context:
            _check(self.driver.cuCtxSetCurrent(self.context))
            _this_thread.context = self.context

    def _own_pool(self):
        """A memory pool of cltorch's own that keeps freed memory cached (the device's default
        pool is shared with every library in the process, so its settings stay untouched)."""
        d = self.driver
        props = d.CUmemPoolProps()
        props.allocType = d.CUmemAllocationType.CU_MEM_ALLOCATION_TYPE_PINNED
        props.handleTypes = d.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_NONE
        props.location.type = d.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
        props.location.id = self.index
        pool = _check(d.cuMemPoolCreate(props))
        keep = d.cuuint64_t(2 ** 64 - 1)
        _check(d.cuMemPoolSetAttribute(
            pool, d.CUmemPool_attribute.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, keep))
        return pool

    def _attribute(self, name: str) -> int:
        """A device attribute; 0 for one this driver's bindings no longer have (CLOCK_RATE)."""
        attr = getattr(self.driver.CUdevice_attribute, f"CU_DEVICE_ATTRIBUTE_{name}", None)
        if attr is None:
            return 0
        return int(_check(self.driver.cuDeviceGetAttribute(attr, self.device)))

    def info(self) -> DeviceInfo:
        d = self.driver
        name = _check(d.cuDeviceGetName(256, self.device)).split(b"\0")[0].decode()
        built = self.arch if self.target == self.arch else f"PTX {self.target}"
        return DeviceInfo(
            "cuda", self.index, name, vendor="NVIDIA", type="GPU",
            compute_units=self._attribute("MULTIPROCESSOR_COUNT"),
            clock_mhz=self._attribute("CLOCK_RATE") // 1000,
            global_mem_bytes=int(_check(d.cuDeviceTotalMem(self.device))),
            local_mem_bytes=self._attribute("MAX_SHARED_MEMORY_PER_BLOCK"),
            max_alloc_bytes=int(_check(d.cuDeviceTotalMem(self.device))),
            max_work_group_size=self._attribute("MAX_THREADS_PER_BLOCK"), fp64=True, fp16=True,
            version=f"{self.arch} (built as {built}), NVRTC "
                    f"{'.'.join(map(str, nvrtc_version()))}",
            driver=str(_driver_version()))

    def allocate(self, nbytes: int):
        if nbytes == 0:
            return None
        check_not_forked(self.kind)
        self.check_limit(nbytes)
        self._use()
        d = self.driver
        err, ptr = d.cuMemAllocFromPoolAsync(nbytes, self.pool, self.stream)
        if err == d.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
            self._wait()  # let pending frees land, give cached blocks back, try once more
            _check(d.cuMemPoolTrimTo(self.pool, 0))
            err, ptr = d.cuMemAllocFromPoolAsync(nbytes, self.pool, self.stream)
            if err == d.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
                raise OutOfMemoryError(f"cuda:{self.index} out of memory allocating "
                                       f"{nbytes} bytes")
        _check((err,))
        return CUDABuffer(self, int(ptr), nbytes)

    def upload(self, host: np.ndarray, blocking: bool = True):
        # Never waits. cltorch's host arrays are pageable memory (its pinned memory too), and
        # for pageable memory the driver copies the bytes to its staging memory before
        # cuMemcpyHtoDAsync returns (CUDA's API synchronization behaviour), so ``host`` may
        # change or go once this returns, as a blocking copy's caller expects.
        buffer = self.allocate(host.nbytes)
        if buffer is not None:
            _check(self.driver.cuMemcpyHtoDAsync(buffer.ptr, host.ctypes.data, host.nbytes,
                                                 self.stream))
            if _CAPTURING[0] is not None:
                _CAPTURING[0].upload(self, buffer, host)
        return buffer

    def write(self, buffer, host: np.ndarray) -> None:
        _check(self.driver.cuMemcpyHtoDAsync(buffer.ptr, host.ctypes.data, host.nbytes,
                                             self.stream))

    def download(self, buffer, offset_bytes: int, out: np.ndarray) -> np.ndarray:
        if _CAPTURING[0] is not None:
            _CAPTURING[0].stop(READ_BACK)
        self._use()
        if out.nbytes:
            _check(self.driver.cuMemcpyDtoHAsync(out.ctypes.data, buffer.ptr + offset_bytes,
                                                 out.nbytes, self.stream))
        if out.nbytes or self.errors.pending:
            self._wait()
        return out

    def read_async(self, buffer, out: np.ndarray) -> None:
        self._use()
        _check(self.driver.cuMemcpyDtoHAsync(out.ctypes.data, buffer.ptr, out.nbytes,
                                             self.stream))

    def compile(self, source: str, name: str, argtypes: tuple):
        self._use()
        binary = nvrtc_compile(source, name, self.target)
        module = _check(self.driver.cuModuleLoadData(binary))
        function = _check(self.driver.cuModuleGetFunction(module, name.encode()))
        attr = self.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK
        limit = int(_check(self.driver.cuFuncGetAttribute(attr, function)))
        return CUDAKernel(function, module, argtypes or (), limit)

    def group_limit(self, kernel) -> int:
        return kernel.limit  # registers and shared memory may allow fewer than 1024 threads

    def launch(self, kernel, n_items: int, args, local=None) -> None:
        if _CAPTURING[0] is not None:
            _CAPTURING[0].launch(self, kernel, n_items, args, local)
        if getattr(_this_thread, "context", None) is not self.context:
            self._use()
        block = local or min(BLOCK_SIZE, kernel.limit)
        groups = kernel.grids.get(n_items) if local is None else None
        if groups is None:
            groups = grid_size(n_items, block, self.max_groups) // block
            if local is None:
                remember(kernel.grids, n_items, groups)
        with self.launching:  # the parameter block is the kernel's: one launch packs at once
            kernel.pack(args)
            result = self.driver.cuLaunchKernel(kernel.function, groups, 1, 1, block, 1, 1, 0,
                                                self.stream, kernel.pointers, 0)
        if result[0]:
            _check(result)

    def synchronize(self) -> None:
        self._wait()

    def _wait(self) -> None:
        """Wait for the stream, then raise the first failed device-side check (one wait: a
        download's own, or synchronize's)."""
        self._use()
        checks = self.errors.read_before_wait()
        _check(self.driver.cuStreamSynchronize(self.stream))
        self.errors.raise_after_wait(checks)

    def release_cached(self) -> None:
        self._wait()  # frees still queued on the stream land first
        _check(self.driver.cuMemPoolTrimTo(self.pool, 0))

    def reserved_bytes(self) -> int:
        attr = self.driver.CUmemPool_attribute.CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT
        return max(self.memory[0], int(_check(self.driver.cuMemPoolGetAttribute(self.pool,
                                                                                 attr))))


def _check_versions() -> None:
    """NVRTC's code needs a driver of at least its CUDA major version: say so at open, not at
    the first kernel load (CUDA_ERROR_UNSUPPORTED_PTX_VERSION or a missing image)."""
    driver_major = _driver_version() // 1000
    nvrtc_major = nvrtc_version()[0]
    if driver_major and driver_major < nvrtc_major:
        raise BackendUnavailable(
            f"the NVIDIA driver supports CUDA {driver_major}, and NVRTC is "
            f"{'.'.join(map(str, nvrtc_version()))}: update the driver, or install an NVRTC "
            f"of CUDA {driver_major} (pip install 'cuda-python<{driver_major + 1}' "
            f"'nvidia-cuda-nvrtc-cu{driver_major}')")
