"""The device namespaces ``cltorch.cuda`` and ``cltorch.opencl`` (PyTorch's ``torch.cuda`` API).

One factory fills both. ``cuda`` indices name the accelerators (``registry.accelerators``: the
CUDA backend's GPUs, else the OpenCL GPUs, or what CLTORCH_CUDA pins); ``opencl`` indices name
the OpenCL devices. Memory statistics count the bytes of live tensor storages per device
(cheap counters kept by the storages themselves); ``memory_reserved`` adds what the backend's
caching pool holds.
"""
from __future__ import annotations

import collections
import contextlib
import time

from .api import random as _random
from .backend import OutOfMemoryError, registry


def memory_allocated(device="cpu") -> int:
    """Bytes held by the live tensors (their storages) on ``device``."""
    return registry.get(device).memory[0]


_Properties = collections.namedtuple(
    "_CudaDeviceProperties", "name major minor total_memory multi_processor_count "
                             "is_integrated L2_cache_size gcnArchName uuid")


class _Namespace:
    """Functions of one device namespace; ``kind`` is "cuda" (accelerators) or "opencl"."""

    def __init__(self, kind: str):
        self.kind = kind
        self.current = 0  # opencl's current index ("cuda" keeps it in the registry)

    def devices(self) -> tuple:
        if self.kind == "cuda":
            return registry.accelerators()
        return tuple(registry.get(f"opencl:{i}")
                     for i in range(registry.device_count("opencl")))

    def get(self, device=None):
        """The backend Device of an index, a device, a string or None (the current one)."""
        if device is None:
            device = self.current_device()
        if isinstance(device, int):
            devices = self.devices()
            if not 0 <= device < len(devices):
                raise RuntimeError(f"Invalid device id {device}: {len(devices)} {self.kind} "
                                   f"device(s) (see `cltorch devices`)")
            return devices[device]
        return registry.get(device if not isinstance(device, str) or ":" in device or
                            device != self.kind else f"{self.kind}:{self.current_device()}")

    def current_device(self) -> int:
        if self.kind == "cuda":
            return registry.current_accelerator_index()
        return self.current

    def set_device(self, device) -> None:
        index = device if isinstance(device, int) else registry.device(device).index or 0
        if self.kind == "cuda":
            registry.set_current_accelerator(index)
        else:
            self.get(index)
            self.current = index


def fill(namespace: dict, kind: str) -> None:
    """Define PyTorch's ``torch.cuda`` functions in ``namespace`` for ``kind``."""
    ns = _Namespace(kind)

    def is_available() -> bool:
        """True when at least one device of this namespace can be used (a malformed
        CLTORCH_CUDA raises rather than hiding the GPU)."""
        return len(ns.devices()) > 0

    def device_count() -> int:
        """How many devices this namespace has (0 when none)."""
        return len(ns.devices())

    def synchronize(device=None) -> None:
        """Wait until all work queued on the device has finished."""
        ns.get(device).synchronize()

    def get_device_name(device=None) -> str:
        return ns.get(device).info().name

    def get_device_properties(device=None):
        """name, major, minor, total_memory, multi_processor_count, ... of the device."""
        dev = ns.get(device)
        info = dev.info()
        major, minor = get_device_capability(dev)
        return _Properties(info.name, major, minor, info.global_mem_bytes, info.compute_units,
                           info.type != "GPU", info.extra.get("l2_cache", 0),
                           info.name if dev.kind == "opencl" else "", f"{dev.name}")

    def get_device_capability(device=None) -> tuple:
        """The CUDA compute capability; (0, 0) for an OpenCL device, which has none."""
        dev = ns.get(device)
        if dev.kind == "cuda":
            return int(dev.arch[3:-1]), int(dev.arch[-1])
        return 0, 0

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        """bfloat16 is stored in 16 bits and computed in float32 on every device."""
        return is_available()

    def memory_allocated(device=None) -> int:
        """Bytes held by live tensors on the device."""
        return ns.get(device).memory[0]

    def max_memory_allocated(device=None) -> int:
        """The peak of ``memory_allocated`` since the start or the last reset."""
        return ns.get(device).memory[1]

    def memory_reserved(device=None) -> int:
        """Bytes held by live tensors plus the blocks the caching pool keeps."""
        return ns.get(device).reserved_bytes()

    def reset_peak_memory_stats(device=None) -> None:
        stats = ns.get(device).memory
        stats[1] = stats[0]

    def memory_stats(device=None) -> dict:
        dev = ns.get(device)
        return {"allocated_bytes.all.current": dev.memory[0],
                "allocated_bytes.all.peak": dev.memory[1],
                "reserved_bytes.all.current": memory_reserved(dev)}

    def memory_summary(device=None, abbreviated=False) -> str:
        stats = memory_stats(device)
        return "\n".join(f"{k:32s} {v:>16,d}" for k, v in stats.items())

    def mem_get_info(device=None) -> tuple:
        """(free, total) bytes: total device memory less what live tensors hold."""
        dev = ns.get(device)
        total = dev.info().global_mem_bytes
        return max(0, total - dev.memory[0]), total

    def set_per_process_memory_fraction(fraction, device=None) -> None:
        """Let live tensors on the device hold at most ``fraction`` of its memory; a larger
        allocation raises OutOfMemoryError and leaves existing tensors as they are."""
        if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
            raise TypeError("Invalid type for fraction argument, must be `float`")
        if not 0 <= fraction <= 1:
            raise ValueError(f"Invalid fraction value: {fraction}. Allowed range: 0~1")
        ns.get(device).set_limit(fraction)

    def get_per_process_memory_fraction(device=None) -> float:
        dev = ns.get(device)
        limit = dev.memory_limit
        return 1.0 if limit is None else limit / dev.info().global_mem_bytes

    def empty_cache() -> None:
        """Give the caching pools' unused blocks back to the driver."""
        for dev in ns.devices():
            dev.release_cached()

    @contextlib.contextmanager
    def _device_context(device):
        previous = ns.current_device()
        if device is not None and device != -1:
            ns.set_device(device)
        try:
            yield
        finally:
            ns.set_device(previous)

    class device:  # noqa: N801 - PyTorch's name
        """Context manager that makes ``device`` the current one."""

        def __init__(self, device):
            self.idx = device if isinstance(device, int) or device is None else \
                registry.device(device).index or 0
            self._context = None

        def __enter__(self):
            self._context = _device_context(self.idx)
            return self._context.__enter__()

        def __exit__(self, *exc):
            return self._context.__exit__(*exc)

    def manual_seed(seed) -> None:
        """Seed the generator; every device shares cltorch's one Philox generator."""
        _random.manual_seed(seed)

    namespace.update(
        is_available=is_available, device_count=device_count, synchronize=synchronize,
        current_device=ns.current_device, set_device=ns.set_device, device=device,
        get_device_name=get_device_name, get_device_properties=get_device_properties,
        get_device_capability=get_device_capability, is_bf16_supported=is_bf16_supported,
        memory_allocated=memory_allocated, max_memory_allocated=max_memory_allocated,
        memory_reserved=memory_reserved, max_memory_reserved=max_memory_allocated,
        reset_peak_memory_stats=reset_peak_memory_stats,
        reset_max_memory_allocated=reset_peak_memory_stats, memory_stats=memory_stats,
        memory_summary=memory_summary, mem_get_info=mem_get_info, empty_cache=empty_cache,
        set_per_process_memory_fraction=set_per_process_memory_fraction,
        get_per_process_memory_fraction=get_per_process_memory_fraction,
        manual_seed=manual_seed, manual_seed_all=manual_seed, seed=_random.seed,
        seed_all=_random.seed, initial_seed=_random.initial_seed,
        get_rng_state=lambda device=None: _random.get_rng_state(),
        set_rng_state=lambda state, device=None: _random.set_rng_state(state),
        get_rng_state_all=lambda: [_random.get_rng_state()] * device_count(),
        set_rng_state_all=lambda states: states and _random.set_rng_state(states[0]),
        is_initialized=is_available, init=lambda: None, OutOfMemoryError=OutOfMemoryError,
        _namespace=ns)
    namespace.update(_streams(ns))


def _streams(ns: _Namespace) -> dict:
    """Stream and Event: one in-order queue per device, so a stream orders work like the
    device's queue; an Event records by waiting for the queue, then reading the clock."""

    class Stream:
        """The device's queue (cltorch keeps one in-order queue per device)."""

        def __init__(self, device=None, priority=0, **kwargs):
            self.device = registry.public(ns.get(device))
            self._device = ns.get(device)

        def synchronize(self) -> None:
            self._device.synchronize()

        def wait_stream(self, stream) -> None:
            pass  # one in-order queue: work queued before is already ordered before

        def wait_event(self, event) -> None:
            pass

        def query(self) -> bool:
            self._device.synchronize()
            return True

        def record_event(self, event=None):
            event = event or Event()
            event.record(self)
            return event

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Event:
        """A point in a stream. ``elapsed_time`` gives the milliseconds between two recorded
        events, timed on the host after the queue drained at each ``record``."""

        def __init__(self, enable_timing=False, blocking=False, interprocess=False):
            self.enable_timing, self._time, self._device = enable_timing, None, None

        def record(self, stream=None) -> None:
            self._device = stream._device if stream is not None else ns.get(None)
            self._device.synchronize()
            self._time = time.perf_counter()

        def synchronize(self) -> None:
            if self._device is not None:
                self._device.synchronize()

        def wait(self, stream=None) -> None:
            pass

        def query(self) -> bool:
            return True

        def elapsed_time(self, end) -> float:
            if not (self.enable_timing and end.enable_timing):
                raise RuntimeError("Both events must be created with argument 'enable_timing="
                                   "True'.")
            if self._time is None or end._time is None:
                raise RuntimeError("Both events must be recorded before calculating elapsed "
                                   "time.")
            return (end._time - self._time) * 1000.0

    def current_stream(device=None) -> Stream:
        return Stream(device)

    return dict(Stream=Stream, Event=Event, current_stream=current_stream,
                default_stream=current_stream, stream=lambda s=None: s or Stream(),
                StreamContext=lambda s: s or Stream())
