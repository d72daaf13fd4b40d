"""OpenCL through pyopencl: any platform (NVIDIA, AMD, Intel, PoCL on a CPU).

One context and one in-order queue per device; memory from pyopencl's caching MemoryPool;
programs built once per process and their binaries kept on disk by cltorch's own cache
(binary_cache.py: key of source, options, platform, device, driver and cltorch's version), so
that a warm process runs no compiler. Nothing here waits for the device except ``download``.
"""
from __future__ import annotations

import collections
import functools
import struct
import threading
import warnings

import numpy as np

from .. import config
from . import binary_cache, bundles
from .capture import ACTIVE as _CAPTURING
from .base import (READ_BACK, BackendUnavailable, CompileError, Device, DeviceInfo,
                   OutOfMemoryError, check_not_forked, grid_size, human_bytes, initial_limit,
                   remember)

LOCAL_SIZE = 256


def _cl():
    try:
        import pyopencl
    except ImportError:  # pragma: no cover - depends on the environment
        raise BackendUnavailable("the opencl backend needs pyopencl: pip install "
                                 "'cltorch[pocl]' (PoCL gives any CPU an OpenCL device)") from None
    return pyopencl


@functools.lru_cache(maxsize=None)
def cl_devices() -> tuple:
    """Every OpenCL device of every platform, GPUs first; empty when there is none."""
    try:
        cl = _cl()
        found = [d for p in cl.get_platforms() for d in p.get_devices()]
    except Exception:  # no ICD loader, no platform: no device
        return ()
    gpu = [d for d in found if d.type & cl.device_type.GPU]
    return tuple(gpu + [d for d in found if d not in gpu])


def device_count() -> int:
    return len(cl_devices())


def gpu_count() -> int:
    """How many OpenCL devices are GPUs (they come first in ``cl_devices``)."""
    if not cl_devices():
        return 0
    cl = _cl()
    return sum(bool(d.type & cl.device_type.GPU) for d in cl_devices())


class OpenCLDevice(Device):
    kind = "opencl"

    def __init__(self, index: int):
        super().__init__(index)
        devices = cl_devices()
        if index >= len(devices):
            raise RuntimeError(f"opencl:{index} does not exist: {len(devices)} OpenCL device(s) "
                               "found (see `cltorch devices`)")
        cl = self.cl = _cl()
        import pyopencl._cl
        import pyopencl.tools
        self._enqueue = pyopencl._cl.enqueue_nd_range_kernel  # what pyopencl's invoker calls
        self.device = devices[index]
        self.context = cl.Context([self.device])
        self.queue = cl.CommandQueue(self.context)
        self.pool = pyopencl.tools.MemoryPool(pyopencl.tools.ImmediateAllocator(self.queue))
        # One item per work-item up to 2**20 groups; beyond, the kernels' grid-stride loop
        # takes over. (A small grid made PoCL 4x slower: it vectorises across work-items.)
        self.max_groups = 2 ** 20
        self.local_size = min(LOCAL_SIZE, self.device.max_work_group_size)
        self.compute_units = self.device.max_compute_units
        self.max_alloc = self.device.max_mem_alloc_size
        self.local_memory = self.device.local_mem_size
        style = config.kernel_style()
        self.cpu_like = (style == "cpu") if style else (
            bool(self.device.type & cl.device_type.CPU) and
            not self.device.type & cl.device_type.GPU)  # Oclgrind says both: GPU kernels
        self.exact = config.exact_buffers()
        self.kept = [] if config.keep_buffers() else None
        self.launching = threading.Lock()
        self.options = self._build_options()
        d = self.device  # what a program binary depends on, besides source and options
        self._identity = (d.platform.name, d.platform.version, d.name, d.vendor, d.version,
                          d.driver_version)
        # Handing a binary out makes PoCL compile every kernel once more (about 0.28 s each, 10 s
        # for the main job's programs), so a CPU device keeps its binaries only when asked
        # (store_binaries, from `cltorch cache warm`); until then it rebuilds from its own
        # driver cache (25 ms a program). Loading a kept binary costs it 2 ms.
        self.keep_binaries = bool(d.type & cl.device_type.GPU) or not d.type & cl.device_type.CPU
        self._unkept = {}  # binary-cache name -> program built from source, binary not kept
        self._bundled = {}  # source -> (program, kernel name) of a built bundle (bundles.py)
        self._in_flight = collections.deque()  # events of non-blocking uploads (_hold)
        self.holding = threading.Lock()
        initial_limit(self)

    def _build_options(self) -> list:
        # Same fp32 division and sqrt as CUDA and NumPy, where the device allows it.
        cfg = self.device.single_fp_config
        options = config.build_options()
        if cfg & self.cl.device_fp_config.CORRECTLY_ROUNDED_DIVIDE_SQRT:
            options.append("-cl-fp32-correctly-rounded-divide-sqrt")
        if self.device.platform.name.startswith("Portable Computing Language"):
            options.append("-DCT_BUILTIN_SQRT")  # PoCL: sqrt inline (_prelude.mako)
        return options

    @property
    def supports_fp64(self) -> bool:
        return bool(self.device.double_fp_config) and not config.no_fp64()

    def info(self) -> DeviceInfo:
        d, cl = self.device, self.cl
        return DeviceInfo(
            "opencl", self.index, d.name.strip(), vendor=d.vendor.strip(),
            type=cl.device_type.to_string(d.type), compute_units=d.max_compute_units,
            clock_mhz=d.max_clock_frequency, global_mem_bytes=d.global_mem_size,
            local_mem_bytes=d.local_mem_size, max_alloc_bytes=d.max_mem_alloc_size,
            max_work_group_size=d.max_work_group_size, fp64=self.supports_fp64,
            fp16="cl_khr_fp16" in d.extensions, version=d.version.strip(),
            driver=d.driver_version.strip(), extra={"platform": d.platform.name.strip()})

    def allocate(self, nbytes: int):
        if nbytes == 0:
            return None
        check_not_forked(self.kind)
        if nbytes > self.max_alloc:  # the driver would fail only after the pool was emptied
            raise OutOfMemoryError(
                f"opencl:{self.index} out of memory. Tried to allocate {human_bytes(nbytes)} in "
                f"one buffer; the device's largest single allocation is "
                f"{human_bytes(self.max_alloc)} (CL_DEVICE_MAX_MEM_ALLOC_SIZE)")
        self.check_limit(nbytes)
        if self.exact:  # CLTORCH_EXACT_BUFFERS: no pool, so a checker sees every overrun
            buffer = self.cl.Buffer(self.context, self.cl.mem_flags.READ_WRITE, nbytes)
            if self.kept is not None:  # =keep: no address is ever reused (config.py)
                self.kept.append(buffer)
            return buffer
        try:
            return self.pool.allocate(nbytes)
        except self.cl.Error as first:
            self.pool.free_held()  # give cached blocks back to the driver, then try once more
            try:
                return self.pool.allocate(nbytes)
            except self.cl.Error:
                raise OutOfMemoryError(
                    f"opencl:{self.index} out of memory allocating {nbytes} bytes "
                    f"({self.pool.active_blocks} blocks in use): {first}") from None

    def upload(self, host: np.ndarray, blocking: bool = True):
        buffer = self.allocate(host.nbytes)
        if buffer is not None:
            event = self.cl.enqueue_copy(self.queue, buffer, host, is_blocking=blocking)
            if not blocking:
                self._hold(event)
            if _CAPTURING[0] is not None:
                _CAPTURING[0].upload(self, buffer, host)
        return buffer

    def write(self, buffer, host: np.ndarray) -> None:
        self.cl.enqueue_copy(self.queue, buffer, host, is_blocking=True)

    def _hold(self, event) -> None:
        """Keep a non-blocking copy's NannyEvent until the copy has landed: it holds the host
        array, and dropping it would wait for the copy (pyopencl documents both)."""
        pending, done = self._in_flight, self.cl.command_execution_status.COMPLETE
        with self.holding:  # threads uploading at once: one prunes at a time
            while pending and pending[0].command_execution_status == done:
                pending.popleft()
            pending.append(event)

    def download(self, buffer, offset_bytes: int, out: np.ndarray) -> np.ndarray:
        if _CAPTURING[0] is not None:
            _CAPTURING[0].stop(READ_BACK)
        checks = self.errors.read_before_wait()
        if out.nbytes:
            self.cl.enqueue_copy(self.queue, out, buffer, src_offset=offset_bytes,
                                 is_blocking=True)
        elif checks:
            self.queue.finish()
        self.errors.raise_after_wait(checks)
        return out

    def read_async(self, buffer, out: np.ndarray) -> None:
        self.cl.enqueue_copy(self.queue, out, buffer, is_blocking=False)

    def compile(self, source: str, name: str, argtypes: tuple):
        if source not in self._bundled and bundles.bundle_of(source):
            self._build_bundle(bundles.bundle_of(source))
        program, name = self._bundled.get(source) or (self._program(source, name), name)
        kernel = self.cl.Kernel(program, name)  # one per name: the caller keeps it (base.kernel)
        if argtypes is None:  # build only (the template tests)
            return kernel
        kernel.set_scalar_arg_dtypes(list(argtypes))
        if not _Arguments.usable(kernel):
            return kernel
        # a kernel may allow fewer items per work-group than the device (registers, local
        # memory): its default launches take the smaller group
        limit = self._work_group_limit(kernel)
        made = _Arguments(kernel, argtypes, min(self.local_size, limit), limit)
        made.program = program  # (kernel.program is a new wrapper, without the _source
        return made             # pyopencl's kernels look for: prepare() makes kernels)

    def group_limit(self, kernel) -> int:
        return kernel.limit if type(kernel) is _Arguments else self._work_group_limit(kernel)

    def _work_group_limit(self, kernel) -> int:
        """CL_KERNEL_WORK_GROUP_SIZE of a pyopencl kernel on this device."""
        return kernel.get_work_group_info(self.cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                          self.device)

    def _build_bundle(self, bundle: str) -> None:
        """Build every kernel of ``bundle`` as one program (bundles.py); a bundle that does not
        build is left aside, its kernels then built one by one."""
        entries = bundles.read(bundle)
        source, names = bundles.combine(entries)
        try:
            program = self._program(source, f"bundle {bundle}")
        except CompileError:
            program = None
        for (_, member), name in zip(entries, names):
            self._bundled[member] = (program, name) if program is not None else None

    def _program(self, source: str, name: str):
        """The built program of ``source``: from its binary in cltorch's cache (no compiler
        run), else compiled, its binary kept at once on a GPU and on request on a CPU device
        (store_binaries; backend/binary_cache.py)."""
        cl = self.cl
        on_disk = binary_cache.key(source, self.options, *self._identity)
        binary = binary_cache.load("opencl", on_disk)
        with warnings.catch_warnings():  # compiler chatter is ours, not the user's
            if not config.debug():
                warnings.simplefilter("ignore", cl.CompilerWarning)
            if binary is not None:
                try:
                    program = cl.Program(self.context, [self.device], [binary]).build(
                        options=self.options)
                    # the source, as a program built from it has: pyopencl's kernels look
                    # for it, and without it ask the driver for a kernel named "_source"
                    program._source = source
                    return program
                except cl.Error:
                    pass  # a stale or damaged binary: build from the source below
            try:
                program = cl.Program(self.context, source).build(options=self.options)
            except cl.RuntimeError as err:
                raise CompileError("opencl", name, str(err), source) from None
        self._unkept[on_disk] = program
        if self.keep_binaries:
            self.store_binaries()
        return program

    def store_binaries(self) -> int:
        """Keep the binaries of the programs built from source. Called after their kernels
        have run, PoCL's binaries carry the work-group functions it compiled for them, so a
        process loading them compiles nothing at all."""
        kept = 0
        while self._unkept:
            on_disk, program = self._unkept.popitem()
            binary_cache.store("opencl", on_disk,
                               program.get_info(self.cl.program_info.BINARIES)[0])
            kept += 1
        return kept

    def launch(self, kernel, n_items: int, args, local=None) -> None:
        if _CAPTURING[0] is not None:
            _CAPTURING[0].launch(self, kernel, n_items, args, local)
        # Setting a kernel's arguments and enqueueing it are two calls: two threads launching
        # one kernel at once could swap arguments (pyopencl documents it), so one lock.
        if type(kernel) is not _Arguments:  # a pyopencl without its multi-argument setters
            with self.launching:
                kernel(self.queue, *self._grid(n_items, local or self.local_size), *args)
            return
        sizes = kernel.grids.get(n_items) if local is None else None
        if sizes is None:
            sizes = self._grid(n_items, local or kernel.group,
                               kernel.grids if local is None else None)
        with self.launching:
            kernel.set(args)
            self._enqueue(self.queue, kernel.kernel, *sizes)

    def prepare(self, kernel, n_items: int, args, local=None):
        # a kernel object of its own, its arguments set once: a run is one enqueue
        if type(kernel) is not _Arguments or kernel.program is None:
            return super().prepare(kernel, n_items, args, local)
        own = self.cl.Kernel(kernel.program, kernel.kernel.function_name)
        own.set_scalar_arg_dtypes(list(kernel.argtypes))
        own.set_args(*args)
        return _Prepared(self, own, kernel.argtypes,
                         self._grid(n_items, local or kernel.group))

    def _grid(self, n_items: int, group: int, memo=None):
        """(global size, local size) of a launch, memoised for a kernel's default work-group
        (a training step launches the same few sizes over and over)."""
        sizes = ((grid_size(n_items, group, self.max_groups),), (group,))
        return sizes if memo is None else remember(memo, n_items, sizes)

    def synchronize(self) -> None:
        checks = self.errors.read_before_wait()
        self.queue.finish()
        self._in_flight.clear()
        self.errors.raise_after_wait(checks)

    def release_cached(self) -> None:
        self.pool.free_held()

    def reserved_bytes(self) -> int:
        return max(self.memory[0], self.pool.managed_bytes)


class _Arguments:
    """A kernel that sets its scalar arguments only when they change.

    pyopencl's invoker packs every scalar argument at every call through its bindings: a
    pointwise kernel's offsets, strides, size and scalar operand cost about 0.4 us of a 7 us
    tiny op on PoCL. OpenCL keeps a kernel's arguments from one enqueue to the next, so the
    scalars are packed only when they differ from the previous launch's. Equal values pack to
    equal bytes, except a float zero (0 == -0.0): while one is set, every launch packs again.
    Buffers are set at every launch. ``set`` is generated per argument layout, as pyopencl
    generates its invoker, so a launch is one tuple display per kind. Callers hold the
    device's launch lock."""

    __slots__ = ("kernel", "set", "packing", "last", "zero", "group", "limit", "grids",
                 "argtypes", "program")

    @staticmethod
    def usable(kernel) -> bool:
        return hasattr(kernel, "_set_arg_multi") and hasattr(kernel, "_set_arg_buf_pack_multi")

    def __init__(self, kernel, argtypes, group: int, limit: int):
        from pyopencl.invoker import BUF_PACK_TYPECHARS, _type_char_map
        self.kernel, self.last, self.zero, self.argtypes = kernel, None, True, tuple(argtypes)
        self.program = None  # the program it came from (set by compile)
        self.group, self.limit = group, limit  # default work-group size; the kernel's maximum
        self.grids = {}  # item count -> (global, local) sizes of a default launch
        self.packing = []  # (slot, type char, packed by pyopencl: else by struct.pack)
        for slot, argtype in enumerate(argtypes):
            if argtype is not None:
                char = np.dtype(argtype).char
                char = _type_char_map.get(char, char)
                self.packing.append((slot, char, char in BUF_PACK_TYPECHARS))
        buffers = "".join(f"{slot}, a[{slot}], " for slot, t in enumerate(argtypes) if t is None)
        scalars = "".join(f"a[{slot}], " for slot, _, _ in self.packing)
        code = ["def set(a):"]
        if buffers:
            code.append(f"    set_buffers(({buffers}))")
        code += [f"    s = ({scalars})",
                 "    if s != self.last or self.zero:",
                 "        self.pack(s)"]
        scope = {"set_buffers": kernel._set_arg_multi, "self": self}
        exec("\n".join(code), scope)  # noqa: S102 - our own fixed text, as pyopencl's invoker
        self.set = scope["set"]

    def pack(self, values) -> None:
        multi = []
        for (slot, char, by_pyopencl), value in zip(self.packing, values):
            if by_pyopencl:
                multi += (slot, char.encode(), value)
            else:
                self.kernel._set_arg_buf(slot, struct.pack(char, value))
        if multi:
            self.kernel._set_arg_buf_pack_multi(tuple(multi))
        self.last = values
        self.zero = any(char in "efd" and value == 0
                        for (_, char, _), value in zip(self.packing, values))


class _Prepared:
    """A launch with a kernel object of its own (``OpenCLDevice.prepare``): OpenCL keeps a
    kernel's arguments, so they are set once and when one changes, and a run is one enqueue
    (no other thread uses the kernel object: no lock)."""

    __slots__ = ("device", "kernel", "argtypes", "sizes")

    def __init__(self, device, kernel, argtypes, sizes):
        self.device, self.kernel, self.argtypes, self.sizes = device, kernel, argtypes, sizes

    def run(self) -> None:
        self.device._enqueue(self.device.queue, self.kernel, *self.sizes)

    def set(self, k: int, value) -> None:
        kind = self.argtypes[k]
        self.kernel.set_arg(k, value if kind is None else np.dtype(kind).type(value))
