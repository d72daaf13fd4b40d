"""``autocast``: PyTorch's automatic mixed precision, as a region where some ops change dtype.

Inside ``autocast(device_type, dtype)``, ops on tensors of that device type run as PyTorch's
op lists say: the matrix-product family (matmul, linear, convolutions, attention...) in the low
precision (float16 or bfloat16), the numerically sensitive ops in float32. PyTorch's lists
differ by device type, and so do these: on ``cuda`` (and ``opencl``, which follows CUDA's lists)
softmax, log_softmax, layer/group norm, sums, norms, logsumexp, cumulative sums and softplus
run in float32 as well as the losses; on ``cpu`` only the losses (and prod) do, and mv/addmv/
addr stay in float32. Each op is declared with ``@autocast_op(POLICY)`` next to its definition;
outside a region the check is one truth test of a dict. Casts are ordinary ``to`` calls, so
gradients flow back in each input's own dtype.

Device types: ``cuda`` (the accelerators, see ``cltorch.cuda``), ``cpu`` and ``opencl``.
16-bit dtypes are stored in 16 bits and computed in float32 on every device.
"""
from __future__ import annotations

import functools

from .. import dtypes
from ..backend import registry
from ..ops.array import Array

LOWER, FLOAT32 = "lower", "float32"            # every device type
LOWER_GPU, FLOAT32_GPU = "lower-gpu", "float32-gpu"  # cuda and opencl only (CUDA's lists)
_GPU_ONLY = (LOWER_GPU, FLOAT32_GPU)
_DEFAULT_DTYPE = {"cuda": dtypes.float16, "opencl": dtypes.float16, "cpu": dtypes.bfloat16}
_active = {}  # device type -> autocast dtype, for the regions now enabled


def _under(device, device_type: str) -> bool:
    if device_type == "cuda":
        return device in registry.accelerators()
    return device.kind == device_type


def _cast(value, policy):
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, policy) for v in value)
    if not isinstance(value, Array) or not value.dtype.is_floating_point:
        return value
    device = value._storage.device
    for device_type, low in _active.items():
        if _under(device, device_type):
            if device_type == "cpu" and policy in _GPU_ONLY:
                return value
            if policy in (LOWER, LOWER_GPU) and value.dtype is not low:
                return value.to(low)
            if policy in (FLOAT32, FLOAT32_GPU) and value.dtype.itemsize == 2:
                return value.to(dtypes.float32)
    return value


def autocast_op(policy: str):
    """Declare that the decorated op follows ``policy`` (LOWER or FLOAT32) under autocast."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if not _active:
                return fn(*args, **kwargs)
            args = tuple(_cast(a, policy) for a in args)
            kwargs = {k: _cast(v, policy) for k, v in kwargs.items()}
            # As in PyTorch, autocast applies to the op called, not to the ops it is built
            # from: they run on the cast inputs with autocast off.
            saved = dict(_active)
            _active.clear()
            try:
                return fn(*args, **kwargs)
            finally:
                _active.update(saved)
        return run
    return wrap


class autocast:  # noqa: N801 - PyTorch's name
    """``with autocast("cuda"):`` / ``autocast("cpu", dtype=torch.bfloat16)``; also a
    decorator. ``enabled=False`` turns autocast off inside the region."""

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled=None):
        device_type = str(device_type).split(":")[0]
        if device_type not in _DEFAULT_DTYPE:
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}'")
        self.device_type = device_type
        self.fast_dtype = _DEFAULT_DTYPE[device_type] if dtype is None else dtypes.to_dtype(dtype)
        if self.fast_dtype not in (dtypes.float16, dtypes.bfloat16):
            raise RuntimeError(f"In autocast, but the target dtype {self.fast_dtype} is not "
                               f"supported: autocast supports torch.float16 and "
                               f"torch.bfloat16")
        self._enabled = bool(enabled)
        self._saved = []

    def __enter__(self):
        self._saved.append(_active.get(self.device_type))
        if self._enabled:
            _active[self.device_type] = self.fast_dtype
        else:
            _active.pop(self.device_type, None)
        return self

    def __exit__(self, *exc):
        previous = self._saved.pop()
        if previous is None:
            _active.pop(self.device_type, None)
        else:
            _active[self.device_type] = previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self._enabled):
                return fn(*args, **kwargs)
        return run


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    return str(device_type) in _active


def get_autocast_dtype(device_type: str):
    return _active.get(device_type, _DEFAULT_DTYPE.get(device_type, dtypes.float16))


def set_autocast_enabled(device_type, enabled=None) -> None:
    """``set_autocast_enabled(device_type, enabled)`` (or the old one-argument form for cuda)."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    if enabled:
        _active[device_type] = get_autocast_dtype(device_type)
    else:
        _active.pop(device_type, None)


def is_autocast_available(device_type: str) -> bool:
    return device_type in _DEFAULT_DTYPE
