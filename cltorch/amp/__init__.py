"""``cltorch.amp`` (``torch.amp``): ``autocast`` and ``GradScaler``."""
import functools as _functools

from .autocast_mode import (autocast, get_autocast_dtype, is_autocast_available,  # noqa: F401
                            is_autocast_enabled, set_autocast_enabled)
from .grad_scaler import GradScaler  # noqa: F401


def custom_fwd(fwd=None, *, device_type="cuda", cast_inputs=None):
    """Decorator for a custom Function's forward: runs it under ``autocast(enabled=False)``
    with floating inputs cast to ``cast_inputs`` when that is given, as PyTorch does."""
    if fwd is None:
        return _functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @_functools.wraps(fwd)
    def run(*args, **kwargs):
        if cast_inputs is None or not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        cast = [a.to(cast_inputs) if getattr(a, "is_floating_point", lambda: False)() else a
                for a in args]
        with autocast(device_type, enabled=False):
            return fwd(*cast, **kwargs)
    return run


def custom_bwd(bwd=None, *, device_type="cuda"):
    """Decorator for a custom Function's backward (runs as it is)."""
    if bwd is None:
        return _functools.partial(custom_bwd, device_type=device_type)
    return bwd
