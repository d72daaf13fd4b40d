"""Cross entropy of (N, C) logits against class indices, fused for the kernel devices: the
``cross_entropy.mako`` kernels (each row's log-sum-exp and its target's loss in one kernel,
the input gradient in one more). The composed form (log_softmax, then NLL's gather, masks and
sums) launches about a dozen kernels forward and as many backward: 14-16x PyTorch's time on
an H200, measured. The cpu keeps NLL's NumPy path (nn/functional/loss.py)."""
from __future__ import annotations

import numpy as np

from .. import config
from ..backend import capture
from ..codegen import DIALECTS, render
from ..codegen.vectors import VECTOR_BYTES
from .array import Array, check_dtype_supported, empty
from .launch import INT32_LIMIT, fitted_kernel, index_types

_LOCAL = 256


def cross_entropy_rows(x: Array, target: Array, ignore: int, error) -> tuple:
    """(loss, lse, valid): each row's loss (x's dtype; 0 where the target is ``ignore``), its
    log-sum-exp and whether its target counts (1 or 0) (both in the compute type), for
    contiguous ``x`` (N, C) and contiguous int64 ``target`` (N,) (any storage offsets). A
    counted target out of range raises ``error`` (the exception type, its message with
    ``{value}``) at the device's next sync, as ops/check.py's checks do."""
    compute = x.dtype.compute
    check_dtype_supported(x._device, compute)
    m = x._shape[0]
    loss = empty(type(x), (m,), x.dtype, x._device)
    lse, valid = (empty(type(x), (m,), compute, x._device) for _ in range(2))
    if m:
        errors = x._device.errors
        _launch(x, target, [loss, lse, valid], None,
                [errors.slot(), errors.site(*error, target.dtype)], ignore)
        errors.launched()
        if config.launch_blocking():
            x._device.synchronize()
    return loss, lse, valid


def cross_entropy_rows_backward(x: Array, target: Array, lse: Array, valid: Array, grad: Array,
                                total: Array | None, ignore: int) -> Array:
    """dx = scale[r] * (softmax(x)[r] - onehot(target[r])), scale[r] = valid[r] * grad (a
    scalar, or (N,) for reduction 'none'), divided by max(total, 1) where ``total`` (the
    count of valid rows, for 'mean') is given; ``lse`` and ``valid`` as the forward made
    them."""
    dx = empty(type(x), x._shape, x.dtype, x._device)
    if x._numel():
        step = grad._strides[0] if grad._shape else 0
        _launch(x, target, [dx, lse, valid], grad.dtype,
                [grad._storage.buffer, grad._offset, step,
                 (total if total is not None else lse)._storage.buffer,
                 int(total is not None)], ignore)
    return dx


def _launch(x, target, outs, grad, tail, ignore):
    """The forward (``grad`` None) or backward kernel (``grad`` the gradient's dtype); ``tail``:
    the arguments after the target's (the error slot's, or the gradient's and the count's)."""
    device, backward = x._device, grad is not None
    m, n = x._shape
    group = 1 if device.cpu_like else min(_LOCAL, device.local_size,
                                          1 << max(0, (n - 1).bit_length()))
    width = VECTOR_BYTES // x.dtype.compute.itemsize if device.cpu_like else 0
    big = max(x._storage.nbytes, outs[0]._storage.nbytes) > INT32_LIMIT
    idx, cidx = index_types(big)
    key = ("cross_entropy", grad, x.dtype, big, width)
    tail_types = (None, idx, idx, None, np.int32) if backward else (None, np.int32)
    kernel, group = fitted_kernel(device, key, group, lambda fit: (
        cross_entropy_source(DIALECTS[device.kind], x.dtype, backward, fit, cidx, width, grad),
        "cross_entropy", (None, None, None, None, idx, None, idx) + tail_types +
        (np.int64, idx, idx)))
    device.launch(kernel, m * group, [o._storage.buffer for o in outs] +
                  [x._storage.buffer, x._offset, target._storage.buffer, target._offset] +
                  tail + [ignore, m, n], local=group)
    if capture.ACTIVE[0] is not None:  # the backward reads lse and valid; the forward's slot
        written = outs[:1] if backward else outs
        capture.describe_last(capture.Writes(
            [o._storage.buffer for o in written] + ([] if backward else tail[:1])))


def cross_entropy_source(dialect, dtype, backward, group_size, index, width=0,
                         grad=None) -> str:
    """Source of the forward or backward kernel for one dialect (the template tests use it);
    ``width`` > 0: the CPU variant's vectors (group_size 1); ``grad``: the backward's output
    gradient dtype (default ``dtype``)."""
    return render("cross_entropy.mako", dialect, name="cross_entropy", src=dtype,
                  compute=dtype.compute, backward=backward, group_size=group_size, index=index,
                  width=width, grad=grad or dtype)
