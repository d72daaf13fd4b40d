"""Activation functions, composed from the op library (so autograd and every device come
with them). Branches that a ``where`` discards are kept finite (exp of a clamped argument):
their gradient is multiplied by zero, and inf * 0 would be NaN."""
from __future__ import annotations

import math

from ...autograd.inplace import tracked
from ...api.pointwise import FUNCTIONS
from ...api.softmax import log_softmax as _log_softmax, softmax as _softmax
from ...amp.autocast_mode import FLOAT32_GPU, LOWER, autocast_op

_where = FUNCTIONS["where"]


def _inplace(input, fn, inplace):
    """``fn(input)``, written into ``input`` when ``inplace``. Under autograd the value is
    computed from a clone (PyTorch's ``original_self``), so the graph that produced it never
    saved the tensor that the write then changes; the write itself is a recorded ``copy_``."""
    if not inplace:
        return fn(input)
    source = input.clone() if tracked(input) else input
    return input.copy_(fn(source))


def relu(input, inplace=False):
    return _inplace(input, lambda x: x.relu(), inplace)


def relu_(input):
    return relu(input, True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _inplace(input, lambda x: _where(x > 0, x, x * negative_slope), inplace)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


@autocast_op(LOWER)
def prelu(input, weight):
    """Leaky ReLU whose negative slope is a learned ``weight`` (one, or one per channel)."""
    if weight.numel() != 1 and input.ndim >= 2:
        weight = weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return _where(input > 0, input, input * weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: a random slope in [lower, upper] per element when training,
    their mean otherwise."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from ...api.random import rand
    slope = rand(input.shape, dtype=input.dtype, device=input.device) * (upper - lower) + lower
    return _inplace(input, lambda x: _where(x >= 0, x, x * slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _inplace(input, lambda x: _where(x > 0, x, alpha * (x.clamp(max=0.0).exp() - 1)),
                    inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _inplace(input, lambda x: _SELU_SCALE * elu(x, _SELU_ALPHA), inplace)


def celu(input, alpha=1.0, inplace=False):
    return _inplace(input, lambda x: _where(x > 0, x, alpha * ((x.clamp(max=0.0) / alpha).exp()
                                                               - 1)), inplace)


def gelu(input, approximate="none"):
    """x * Phi(x) (``approximate='tanh'``: PyTorch's tanh formula)."""
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1 + inner.tanh())
    if approximate != "none":
        raise ValueError("approximate argument must be either none or tanh.")
    return 0.5 * input * (1 + (input * (1 / math.sqrt(2.0))).erf())


def silu(input, inplace=False):
    return _inplace(input, lambda x: x * x.sigmoid(), inplace)


def mish(input, inplace=False):
    return _inplace(input, lambda x: x * softplus(x).tanh(), inplace)


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for any x."""
    return -(-input).relu() - (-input.abs()).exp().log1p()


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace(input, lambda x: x.clamp(min_val, max_val), inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def hardsigmoid(input, inplace=False):
    return _inplace(input, lambda x: (x / 6 + 0.5).clamp(0.0, 1.0), inplace)


def hardswish(input, inplace=False):
    return _inplace(input, lambda x: x * (x + 3).clamp(0.0, 6.0) / 6, inplace)


def hardshrink(input, lambd=0.5):
    return input.masked_fill(input.abs() <= lambd, 0.0)


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return _where(input > lambd, input - lambd, _where(input < -lambd, input + lambd,
                                                       input * 0))


def tanhshrink(input):
    return input - input.tanh()


@autocast_op(FLOAT32_GPU)
def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    scaled = input * beta
    soft = scaled.clamp(max=threshold).exp().log1p() / beta
    return _where(scaled > threshold, input, soft)


def softsign(input):
    return input / (1 + input.abs())


def threshold(input, threshold, value, inplace=False):
    return _inplace(input, lambda x: _where(x > threshold, x, x * 0 + value), inplace)


def threshold_(input, threshold_value, value):
    return threshold(input, threshold_value, value, True)


def glu(input, dim=-1):
    """First half times the sigmoid of the second half along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension "
                           f"{dim % input.ndim} is size {size}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def _softmax_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(-input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _log_softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def softmax2d(input):
    if input.ndim not in (3, 4):
        raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
    return _softmax(input, -3)


ACTIVATIONS = {f.__name__: f for f in (
    relu, relu_, relu6, leaky_relu, leaky_relu_, prelu, rrelu, elu, elu_, selu, celu, gelu,
    silu, mish, sigmoid, tanh, logsigmoid, hardtanh, hardtanh_, hardsigmoid, hardswish,
    hardshrink, softshrink, tanhshrink, softplus, softsign, threshold, threshold_, glu,
    softmax, softmin, log_softmax, softmax2d)}
