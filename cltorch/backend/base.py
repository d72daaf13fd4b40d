"""The backend contract: a Device allocates, copies to and from the host, compiles and launches.

Three implementations: ``cpu`` (NumPy, no compiler), ``opencl`` (pyopencl) and ``cuda``
(cuda.bindings + NVRTC).  Everything above this layer talks to a Device through these methods.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import capture


class CompileError(RuntimeError):
    """A kernel failed to build. Carries the dialect, kernel name, build log and numbered source."""

    def __init__(self, dialect: str, name: str, log: str, source: str):
        self.dialect, self.name, self.log, self.source = dialect, name, log, source
        super().__init__(f"[{dialect}] kernel {name} failed to build:\n{log}\n{numbered(source)}")


def numbered(source: str) -> str:
    """Source with line numbers, the way build errors show it."""
    return "\n".join(f"{i:4d} | {line}" for i, line in enumerate(source.splitlines(), 1))


class OutOfMemoryError(RuntimeError):
    """A device allocation failed even after the cached blocks were freed."""


class BackendUnavailable(RuntimeError):
    """A backend was asked for whose package or driver is missing."""


@dataclass
class DeviceInfo:
    """What ``cltorch devices`` prints about one device."""

    backend: str
    index: int
    name: str
    vendor: str = ""
    type: str = ""
    compute_units: int = 0
    clock_mhz: int = 0
    global_mem_bytes: int = 0
    local_mem_bytes: int = 0
    max_alloc_bytes: int = 0
    max_work_group_size: int = 0
    fp64: bool = True
    fp16: bool = False
    version: str = ""
    driver: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class Device:
    """One device of one backend. Subclasses fill in the methods below."""

    kind = ""          # "cpu" | "opencl" | "cuda"

    def __init__(self, index: int):
        self.index = index
        self.plans = {}     # per-device cache of launch plans, filled by the ops layer
        self.compute_units = 1
        self.cpu_like = False  # a CPU behind OpenCL: kernels should loop, not use barriers
        self.local_size = 256  # the largest work-group the ops launch (the device may allow less)
        self.local_memory = 48 * 1024  # bytes of local (shared) memory one work-group may use
        self.kernels = {}   # (source, name) -> compiled kernel handle
        self.compiling = threading.RLock()  # held while a kernel is built (kernel())
        self.memory = [0, 0]  # bytes held by live tensor storages, and their peak
        self.memory_limit = None  # bytes live storages may hold (set_limit); None: no limit
        self.errors = ErrorSlot(self)  # failures of device-side checks, raised at a sync
        self.compile_seconds = 0.0  # spent compiling kernels in this process

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.index}"

    def info(self) -> DeviceInfo:
        raise NotImplementedError

    def allocate(self, nbytes: int):
        """A buffer of ``nbytes`` (uninitialised). Implementations call ``check_limit``
        first."""
        raise NotImplementedError

    def set_limit(self, fraction) -> None:
        """Let live tensors hold at most ``fraction`` of the device's memory (None: no limit
        but the driver's). ``CLTORCH_MEMORY_FRACTION`` gives every device a fraction."""
        total = self.info().global_mem_bytes
        self.memory_limit = None if fraction is None else int(float(fraction) * total)

    def check_limit(self, nbytes: int) -> None:
        """OutOfMemoryError, before anything is allocated, when ``nbytes`` more would pass the
        limit: existing tensors keep their values and the process lives (a host-memory device
        such as PoCL or the NumPy backend would otherwise meet the kernel's OOM killer)."""
        limit = self.memory_limit
        if limit is not None and self.memory[0] + nbytes > limit:
            raise OutOfMemoryError(
                f"{self.name} out of memory. Tried to allocate {human_bytes(nbytes)}; live "
                f"tensors hold {human_bytes(self.memory[0])} of the {human_bytes(limit)} this "
                f"process may use "
                f"(set_per_process_memory_fraction / CLTORCH_MEMORY_FRACTION)")

    def upload(self, host: np.ndarray, blocking: bool = True):
        """A new buffer holding the bytes of the C-contiguous array ``host``. With
        ``blocking=False`` the copy may land after this returns (ahead of any later work on
        the device); the backend keeps ``host`` alive until then, the caller leaves its bytes
        unchanged (PyTorch's contract for a non-blocking copy from pinned memory)."""
        raise NotImplementedError

    def download(self, buffer, offset_bytes: int, out: np.ndarray) -> np.ndarray:
        """Fill the C-contiguous ``out`` from ``buffer`` at ``offset_bytes``; waits for the
        device."""
        raise NotImplementedError

    def write(self, buffer, host: np.ndarray) -> None:
        """Copy the C-contiguous ``host`` into the existing ``buffer`` (a replay's input);
        ``host`` may change once this returns."""
        raise NotImplementedError

    def read_async(self, buffer, out: np.ndarray) -> None:
        """Enqueue a copy of ``buffer`` into ``out`` that has landed by the time the next
        waiting call (download, synchronize) returns."""
        raise NotImplementedError

    def kernel(self, source: str, name: str, argtypes: tuple):
        """The compiled kernel ``name`` of ``source``, built once per device. ``argtypes`` has
        one entry per argument: None for a buffer, a NumPy dtype for a scalar."""
        key = (source, name)
        kernel = self.kernels.get(key)
        if kernel is None:
            # One build at a time per device: threads wanting one kernel build it once, and no
            # driver compiler is entered from two threads (NVIDIA's OpenCL segfaulted in a
            # driver thread while four Python threads built programs at once).
            with self.compiling:
                kernel = self.kernels.get(key)
                if kernel is None:
                    start = time.perf_counter()
                    kernel = self.kernels[key] = self.compile(source, name, argtypes)
                    self._note_compile_time(time.perf_counter() - start)
        return kernel

    def _note_compile_time(self, seconds: float) -> None:
        """One line on stderr, once per process, when compiling has taken a while."""
        self.compile_seconds += seconds
        if self.compile_seconds > COMPILE_NOTICE_S and not _compile_notice_given[0]:
            _compile_notice_given[0] = True
            print(f"cltorch: compiling kernels for {self.name} (a first run; later runs load "
                  f"them from the cache, and `cltorch cache warm` builds them ahead)",
                  file=sys.stderr, flush=True)

    def compile(self, source: str, name: str, argtypes: tuple):
        raise NotImplementedError

    def launch(self, kernel, n_items: int, args, local=None) -> None:
        """Enqueue ``kernel`` over ``n_items`` work items (grid-stride) with ``args``, in
        work-groups of ``local`` items (the backend's choice when None). Never waits."""
        raise NotImplementedError

    def prepare(self, kernel, n_items: int, args, local=None):
        """A launch to run again and again (a cltorch.compile replay): ``run()`` enqueues
        it, ``set(k, value)`` changes argument ``k`` for later runs. A backend whose kernels
        keep their arguments sets them once here; this one launches with the list each run."""
        return Prepared(self, kernel, n_items, list(args), local)

    def synchronize(self) -> None:
        pass

    def store_binaries(self) -> int:
        """Keep on disk the binaries of the programs this process built and has not kept yet
        (``cltorch cache warm``); the number kept. Most backends keep each one as they build
        it, so there is nothing left to do."""
        return 0

    def release_cached(self) -> None:
        """Give the memory pool's unused blocks back to the driver (``empty_cache``)."""

    def reserved_bytes(self) -> int:
        """Bytes the memory pool holds, in use or cached; live tensor bytes where the pool
        does not say."""
        return self.memory[0]

    @property
    def supports_fp64(self) -> bool:
        return True

    def group_limit(self, kernel) -> int:
        """The most work-items one work-group of ``kernel`` may have (unknown here: the
        backend's own launch size is always allowed)."""
        return 1 << 30


class Prepared:
    """``Device.prepare``'s launch for a backend that passes every argument at each launch."""

    __slots__ = ("device", "kernel", "n_items", "args", "local")

    def __init__(self, device, kernel, n_items, args, local):
        self.device, self.kernel, self.n_items = device, kernel, n_items
        self.args, self.local = args, local

    def run(self) -> None:
        self.device.launch(self.kernel, self.n_items, self.args, self.local)

    def set(self, k: int, value) -> None:
        self.args[k] = value


COMPILE_NOTICE_S = 3.0
READ_BACK = ("a value was read back to the host (.item(), .tolist(), .numpy(), bool(), "
             "printing or a comparison in Python)")
_compile_notice_given = [False]


class ErrorSlot:
    """Where kernels that check values (index ranges, probabilities, class targets) record the
    first failure, so that checking costs no host synchronisation: the host reads the slot at
    its next one (``download``, ``synchronize``) and raises the failed check's own exception
    there, as CUDA's device-side asserts surface. A site is one check's (exception type,
    message, dtype); the message's ``{value}`` is filled from the slot.

    Thread-safe: each waiting call reads into its own host array, and a failure is raised by
    the one call that claims it (the slot is then replaced by a clean one)."""

    def __init__(self, device):
        self.device = device
        self.buffer = None                # int32[4] on the device, allocated on first use
        self.sites, self.by_key = [None], {}   # site 0 means "no failure"
        self.pending = False              # a check was launched since the last read
        self.lock = threading.RLock()  # slot() may upload, and a CUDA upload synchronizes

    def site(self, error, message: str, dtype) -> int:
        """The number a checking kernel records for this check (one per distinct check)."""
        key = (error, message, dtype)
        number = self.by_key.get(key)
        if number is None:
            with self.lock:
                number = self.by_key.get(key)
                if number is None:
                    number = self.by_key[key] = len(self.sites)
                    self.sites.append(key)
        return number

    def slot(self):
        """The device buffer a checking kernel writes to; call ``launched`` after the launch."""
        with self.lock, capture.paused():  # the zeroed slot is no input of a captured region
            if self.buffer is None:
                self.buffer = self.device.upload(np.zeros(4, np.int32))
            return self.buffer

    def launched(self) -> None:
        """A checking kernel is enqueued: the next waiting call reads the slot."""
        self.pending = True
        capture.note_check(self.device)

    def read_before_wait(self):
        """Enqueue a read of the slot ahead of a wait when a check ran since the last one:
        (buffer, host array) to give ``raise_after_wait``, or None."""
        if not self.pending:  # the common case: no lock taken on every download
            return None
        with self.lock:
            if not self.pending:
                return None
            self.pending = False
            if self.buffer is None:
                # a failure was claimed after this check took the slot: that slot's first
                # failure has been raised, and the next check gets a fresh one
                return None
            read = (self.buffer, np.zeros(4, np.int32))
            self.device.read_async(*read)
            return read

    def raise_after_wait(self, read) -> None:
        """After the wait: raise the failure ``read`` found, unless another call raised it."""
        if read is None or read[1][0] == 0:
            return
        buffer, host = read
        with self.lock:
            if buffer is not self.buffer:
                return  # claimed by another thread's wait
            self.buffer = None  # the next check gets a zeroed slot
        error, message, dtype = self.sites[int(host[0])]
        bits = (int(host[2]) << 32) | (int(host[1]) & 0xffffffff)
        raise error(message.format(value=_value_of_bits(bits, dtype)))


def _value_of_bits(bits: int, dtype):
    """The value a checking kernel recorded (check.mako says how it stores each dtype)."""
    if dtype.name == "float64":
        return float(np.array(bits, np.int64).view(np.float64))
    if dtype.is_floating_point:
        return float(np.array(bits & 0xffffffff, np.uint32).view(np.float32))
    return bits


# A GPU context does not survive fork: a child forked after the parent opened an OpenCL or
# CUDA device must not use one (PyTorch's rule for CUDA). Its first try raises, never hangs.
_fork_state = {"gpu_opened": False, "forked_after_gpu": False}


def note_gpu_opened() -> None:
    _fork_state["gpu_opened"] = True


def _after_fork_in_child() -> None:
    _fork_state["forked_after_gpu"] = _fork_state["gpu_opened"]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def check_not_forked(kind: str) -> None:
    """RuntimeError when this process was forked from one that had opened a GPU device."""
    if _fork_state["forked_after_gpu"]:
        backend = "CUDA" if kind == "cuda" else "OpenCL"
        raise RuntimeError(f"Cannot re-initialize {backend} in forked subprocess. To use "
                           f"{backend} with multiprocessing, you must use the 'spawn' start "
                           f"method (DataLoader(multiprocessing_context='spawn'), or return "
                           f"cpu tensors from the dataset)")


def human_bytes(nbytes: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes} bytes" if unit == "bytes" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} GiB"


def initial_limit(device) -> None:
    """CLTORCH_MEMORY_FRACTION for every device; otherwise a host-memory device (the NumPy
    backend, an OpenCL CPU device) is limited to the memory it reports, so that an
    impossible allocation raises instead of bringing the kernel's OOM killer."""
    from .. import config
    fraction = config.memory_fraction()
    if fraction is not None:
        device.set_limit(fraction)
    elif device.kind == "cpu" or device.cpu_like:
        device.set_limit(1.0)


def remember(memo: dict, key, value):
    """``memo[key] = value``, the memo emptied first once it holds 4096 entries (a kernel's
    launch sizes: a training step launches the same few over and over); returns ``value``."""
    if len(memo) > 4096:
        memo.clear()
    memo[key] = value
    return value


def grid_size(n_items: int, local: int, max_groups: int) -> int:
    """Global size of a grid-stride launch: whole groups, no more than ``max_groups`` of them."""
    groups = min(max(1, -(-n_items // local)), max_groups)
    return groups * local
