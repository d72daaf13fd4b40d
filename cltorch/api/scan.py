"""Running reductions along one dim (cumsum, cumprod, cummax, cummin, logcumsumexp) over the
scan kernel (``ops/scan.py``)."""
from __future__ import annotations

from ..amp.autocast_mode import FLOAT32_GPU, autocast_op
from ..autograd.graph import record
from ..ops.scan import scan
from ..tensor import normalize_dim
from .creation import arange
from .layout import cat
from .reduce import _dtype, return_types


@autocast_op(FLOAT32_GPU)
def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim`` (integers accumulate in int64)."""
    d = one_dim(input, dim)
    out = scan("cumsum", input, d, _dtype(dtype))
    if input.requires_grad:
        record(out, "CumsumBackward0", (input,), lambda g: _reverse_cumsum(g, d))
    return out


def _reverse_cumsum(g, d):
    return g.flip([d]).cumsum(d).flip([d]) if g.ndim else g


@autocast_op(FLOAT32_GPU)
def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim``."""
    d = one_dim(input, dim)
    out = scan("cumprod", input, d, _dtype(dtype))
    if input.requires_grad:
        record(out, "CumprodBackward0", (input,), lambda g, x, out: _cumprod_backward(
            g, x, out, d), saved=(input,), save_outputs=True)
    return out


def _cumprod_backward(g, x, out, d):
    """sum over k >= i of g_k * prod_{j <= k, j != i} x_j. Without zeros that is
    reverse_cumsum(g * out) / x; with a zero, each i is done directly: the cumprod of x with
    x_i replaced by 1 (n vectorised passes)."""
    if x.ndim == 0:
        return g
    if not bool((x == 0).any()):
        return _reverse_cumsum(g * out, d) / x
    n = x._shape[d]
    position = arange(n, device=x.device).reshape([-1 if k == d else 1 for k in range(x.ndim)])
    parts = [(g * x.masked_fill(position == i, 1.0).cumprod(d)).narrow(d, i, n - i).sum(
        d, keepdim=True) for i in range(n)]
    return cat(parts, d)


def cummax(input, dim):
    """Running maximum and the index where it was reached (NaN propagates)."""
    return _cum_extreme("cummax", input, dim)


def _cum_extreme(name, input, dim):
    d = one_dim(input, dim)
    values, indices = scan(name, input, d)
    if input.requires_grad:
        shape = input._shape
        record((values, indices), name.capitalize() + "Backward0", (input,),
               lambda g, _, index: g.new_zeros(shape).scatter_add(d, index, g) if g.ndim else g,
               saved=(indices,))
    return getattr(return_types, name)(values, indices)


def cummin(input, dim):
    """Running minimum and the index where it was reached (NaN propagates)."""
    return _cum_extreme("cummin", input, dim)


def logcumsumexp(input, dim):
    """``log(cumsum(exp(input)))`` along ``dim``, computed stably."""
    d = one_dim(input, dim)
    out = scan("logcumsumexp", input, d)
    if input.requires_grad:
        record(out, "LogcumsumexpBackward0", (input,), lambda g, x, out: _logcumsumexp_backward(
            g, x, out, d), saved=(input,), save_outputs=True)
    return out


def _logcumsumexp_backward(g, x, out, d):
    """d/dx_i = sum over k >= i of g_k exp(x_i - out_k), summed in log space for positive and
    negative g separately (stable for any magnitudes)."""
    if x.ndim == 0:
        return g
    result = 0
    for sign in (1, -1):
        part = (g * sign).clamp(min=0)
        log_part = part.log() - out  # log(0) = -inf drops the other sign's terms
        total = log_part.flip([d]).logcumsumexp(d).flip([d])
        result = result + sign * (total + x).exp()
    return result


def one_dim(input, dim) -> int:
    """``dim`` of ``input`` normalised; a 0-d tensor has the one dim 0."""
    if input.ndim == 0:
        normalize_dim(dim, 0)
        return 0
    return normalize_dim(dim, input.ndim)


NAMESPACE = METHODS = {f.__name__: f for f in (cumsum, cumprod, cummax, cummin, logcumsumexp)}
