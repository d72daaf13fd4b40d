"""Checks of tensor values (index ranges, class targets, probabilities) that cost no host
synchronisation. On the cpu backend the values are host memory and are checked at once. On an
accelerator the ``check.mako`` kernel records the first failing element in the device's error
slot and the exception is raised at the device's next synchronisation (``backend/base.py``
ErrorSlot), as CUDA reports its device-side asserts; ``CLTORCH_LAUNCH_BLOCKING=1`` makes the
check wait, so that it raises at the op."""
from __future__ import annotations

import numpy as np

from .. import config
from ..codegen import DIALECTS, render
from .array import Array, cpu_view
from .launch import INT32_LIMIT, cached_kernel, index_types


def check_values(x: Array, low, high, error, message: str) -> None:
    """Raise ``error(message.format(value=v))`` for the first element ``v`` of ``x`` outside
    [low, high] (NaN is outside every range); on an accelerator, at its next sync."""
    if x._numel() == 0:
        return
    if x._device.kind == "cpu":
        values = x.dtype.to_numpy_values(cpu_view(x))
        with np.errstate(invalid="ignore"):
            bad = ~((values >= low) & (values <= high))
        if bad.any():
            raise error(message.format(value=values[bad][0].item()))
        return
    _launch(x, low, high, x._device.errors.site(error, message, x.dtype))
    x._device.errors.launched()
    if config.launch_blocking():
        x._device.synchronize()


def _launch(x, low, high, site):
    device = x._device
    ndim = len(x._shape)
    big = x._storage.nbytes > INT32_LIMIT or x._numel() > INT32_LIMIT // 2
    idx, cidx = index_types(big)
    bound = x.dtype.compute.storage_np.type
    kernel = cached_kernel(device, ("check", x.dtype, ndim, big), lambda: (
        check_source(DIALECTS[device.kind], x.dtype, ndim, cidx), "check",
        (None, np.int32, None, idx, idx, bound, bound) + (idx,) * (2 * ndim)))
    layout = [v for size, stride in zip(x._shape, x._strides) for v in (size, stride)]
    n = x._numel()
    device.launch(kernel, n, [device.errors.slot(), site, x._storage.buffer, x._offset, n,
                              _bound(low, bound), _bound(high, bound)] + layout)


def _bound(value, np_type):
    """``value`` as the kernel's compute type, clamped to what that type holds."""
    if np.issubdtype(np_type, np.integer):
        info = np.iinfo(np_type)
        return np_type(min(max(value, info.min), info.max))
    return np_type(value)


def check_source(dialect, dtype, ndim, index) -> str:
    """Source of the check kernel for one dialect (the template tests use it)."""
    return render("check.mako", dialect, name="check", dtype=dtype, ndim=ndim, index=index)
