"""softmax and log_softmax over one dim: one fused kernel each (``ops/softmax.py``)."""
from __future__ import annotations

from .. import dtypes
from ..amp.autocast_mode import FLOAT32_GPU, autocast_op
from ..autograd.graph import record
from ..ops.softmax import softmax as _softmax, softmax_backward
from .scan import one_dim


def _floating(name, input, dtype):
    """softmax-like ops take floating point input, or an explicit floating ``dtype``."""
    if dtype is not None:
        return input.to(dtypes.to_dtype(dtype))
    if input.dtype.category < 2:
        raise NotImplementedError(f'"{name}" not implemented for \'{input.dtype.legacy_name}\'')
    return input


@autocast_op(FLOAT32_GPU)
def softmax(input, dim, dtype=None):
    """``exp(x) / sum(exp(x))`` over ``dim``, shifted by the max for stability (one fused
    kernel)."""
    return _fused_softmax(_floating("softmax", input, dtype), dim, False)


@autocast_op(FLOAT32_GPU)
def log_softmax(input, dim, dtype=None):
    """``log(softmax(x))`` over ``dim``, computed without forming the softmax (one fused
    kernel)."""
    return _fused_softmax(_floating("log_softmax", input, dtype), dim, True)


def _fused_softmax(x, dim, log):
    if x.ndim == 0:
        return _fused_softmax(x.reshape(1), dim, log).reshape(())
    d = one_dim(x, dim)
    out = _softmax(x, d, log)
    if x.requires_grad and log:
        record(out, "LogSoftmaxBackward0", (x,), lambda g, out: g - out.exp() * g.sum(
            d, keepdim=True), save_outputs=True, direct=lambda g, out: softmax_backward(
                g, out, d, True))
    elif x.requires_grad:
        record(out, "SoftmaxBackward0", (x,), lambda g, out: out * (g - (g * out).sum(
            d, keepdim=True)), save_outputs=True, direct=lambda g, out: softmax_backward(
                g, out, d, False))
    return out


NAMESPACE = METHODS = {f.__name__: f for f in (softmax, log_softmax)}
