"""The ``cltorch.opencl`` and ``cltorch.cuda`` namespaces: is_available, device_count,
memory_allocated, ..."""
from __future__ import annotations

import gc
import types

from .backend import registry
from .ops.array import Storage


def memory_allocated(device="cpu") -> int:
    """Bytes held by the live tensors (their storages) on ``device``.

    It walks the garbage collector's objects, so it costs milliseconds: a statistic for tests
    and debugging (e.g. that a training loop does not grow), never for the hot path.
    """
    target = registry.get(device)
    return sum(o.nbytes for o in gc.get_objects()
               if type(o) is Storage and o.device is target)


def _namespace(kind: str) -> types.ModuleType:
    module = types.ModuleType(f"cltorch.{kind}", f"The {kind} backend's device queries.")

    def is_available() -> bool:
        """True when at least one device of this backend can be used."""
        return registry.device_count(kind) > 0

    def device_count() -> int:
        """How many devices of this backend there are (0 when the backend is missing)."""
        return registry.device_count(kind)

    def synchronize(device=None) -> None:
        """Wait until all work queued on the device has finished."""
        registry.get(device if device is not None else f"{kind}:0").synchronize()

    def current_device() -> int:
        return 0

    def get_device_name(device=None) -> str:
        return registry.get(device if device is not None else f"{kind}:0").info().name

    def allocated(device=None) -> int:
        """Bytes held by live tensors on the device (see ``cltorch.memory_allocated``)."""
        return memory_allocated(device if device is not None else f"{kind}:0")

    module.__dict__.update(is_available=is_available, device_count=device_count,
                           synchronize=synchronize, current_device=current_device,
                           get_device_name=get_device_name, memory_allocated=allocated)
    return module


opencl = _namespace("opencl")
cuda = _namespace("cuda")
