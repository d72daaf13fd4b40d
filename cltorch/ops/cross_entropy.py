"""Cross entropy of (N, C) logits against class indices, fused for the kernel devices: the
``cross_entropy.mako`` kernels (each row's log-sum-exp and its target's loss in one kernel,
the input gradient in one more). The composed form (log_softmax, then NLL's gather, masks and
sums) launches about a dozen kernels forward and as many backward: 14-16x PyTorch's time on
an H200, measured. The cpu keeps NLL's NumPy path (nn/functional/loss.py)."""
from __future__ import annotations

import numpy as np

from ..codegen import DIALECTS, render
from ..codegen.vectors import VECTOR_BYTES
from .array import Array, check_dtype_supported, empty
from .launch import INT32_LIMIT, fitted_kernel, index_types

_LOCAL = 256


def cross_entropy_rows(x: Array, target: Array, ignore: int) -> tuple:
    """(loss, lse): each row's loss (x's dtype; 0 where the target is ``ignore``) and its
    log-sum-exp (compute type), for contiguous ``x`` (N, C) and contiguous int64 ``target``
    (N,) (any storage offsets). A target out of range reads a clamped column: the caller
    checks the targets."""
    compute = x.dtype.compute
    check_dtype_supported(x._device, compute)
    m = x._shape[0]
    loss = empty(type(x), (m,), x.dtype, x._device)
    lse = empty(type(x), (m,), compute, x._device)
    if m:
        _launch(False, x, target, [loss, lse], lse, ignore)
    return loss, lse


def cross_entropy_rows_backward(x: Array, target: Array, lse: Array, scale: Array,
                                ignore: int) -> Array:
    """dx = scale[r] * (softmax(x)[r] - onehot(target[r])), ``scale`` (N,) in the compute type
    (0 where ignored), contiguous from its storage's start, as ``lse``."""
    dx = empty(type(x), x._shape, x.dtype, x._device)
    if x._numel():
        _launch(True, x, target, [dx, lse], scale, ignore)
    return dx


def _launch(backward, x, target, outs, scale, ignore):
    device = x._device
    m, n = x._shape
    group = 1 if device.cpu_like else min(_LOCAL, device.local_size,
                                          1 << max(0, (n - 1).bit_length()))
    width = VECTOR_BYTES // x.dtype.compute.itemsize if device.cpu_like else 0
    big = max(x._storage.nbytes, outs[0]._storage.nbytes) > INT32_LIMIT
    idx, cidx = index_types(big)
    key = ("cross_entropy", backward, x.dtype, big, width)
    kernel, group = fitted_kernel(device, key, group, lambda fit: (
        cross_entropy_source(DIALECTS[device.kind], x.dtype, backward, fit, cidx, width),
        "cross_entropy", (None, None, None, idx, None, idx, None, np.int64, idx, idx)))
    device.launch(kernel, m * group, [o._storage.buffer for o in outs] +
                  [x._storage.buffer, x._offset, target._storage.buffer, target._offset,
                   scale._storage.buffer, ignore, m, n], local=group)


def cross_entropy_source(dialect, dtype, backward, group_size, index, width=0) -> str:
    """Source of the forward or backward kernel for one dialect (the template tests use it);
    ``width`` > 0: the CPU variant's vectors (group_size 1)."""
    return render("cross_entropy.mako", dialect, name="cross_entropy", src=dtype,
                  compute=dtype.compute, backward=backward, group_size=group_size, index=index,
                  width=width)
