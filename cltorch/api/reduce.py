"""Reductions, statistics and norms: functions and Tensor methods over ``ops/reduce.py``."""
from __future__ import annotations

import builtins
import collections
import math
import types

from .. import dtypes
from ..amp.autocast_mode import FLOAT32, FLOAT32_GPU, autocast_op
from ..autograd.graph import record
from ..ops import pointwise
from ..ops.reduce import TABLE, normalize_dims, reduce
from ..tensor import Tensor
from .pointwise import FUNCTIONS


def _return_type(name, fields):
    """A named tuple printed as PyTorch prints ``torch.return_types.max(values=..., ...)``."""
    base = collections.namedtuple(name, fields)

    def __repr__(self):
        items = ",\n".join(f"{k}={v!r}" for k, v in zip(self._fields, self))
        return f"torch.return_types.{name}(\n{items})"
    return type(name, (base,), {"__slots__": (), "__repr__": __repr__})


return_types = types.SimpleNamespace(max=_return_type("max", "values indices"),
                                     min=_return_type("min", "values indices"),
                                     aminmax=_return_type("aminmax", "min max"),
                                     cummax=_return_type("cummax", "values indices"),
                                     cummin=_return_type("cummin", "values indices"))


def _dtype(dtype):
    return None if dtype is None else dtypes.to_dtype(dtype)


def _reduce(name, input, dim=None, keepdim=False, dtype=None, node=None):
    """The ``name`` row of ``ops.reduce`` over ``dim``, recorded for autograd with the row's own
    ``grad`` (the one place reductions join the graph)."""
    row = TABLE[name]
    out = reduce(row, input, dim, keepdim, dtype)
    if row.grad is not None and input.requires_grad:
        saves, grad = row.grad
        dims, shape = normalize_dims(dim, input.ndim), input._shape
        saved = ((input,) if "x" in saves else ()) + ((out[1],) if row.arg else ())

        def backward(g, *rest):
            if row.arg:
                rest = rest[1:]  # the indices' gradient (there is none)
            state = types.SimpleNamespace(shape=shape, dims=dims, keepdim=keepdim)
            if "x" in saves:
                state.x, rest = rest[0], rest[1:]
            if row.arg:
                state.index, rest = rest[0], rest[1:]
            if "o" in saves:
                state.out = rest[0]
            return grad(g, state)
        record(out, node or row.node, (input,), backward, saved=saved,
               save_outputs="o" in saves)
    return out


@autocast_op(FLOAT32_GPU)
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (int or tuple; all dims when None). Integers sum to int64.

    Example:
        >>> tensor([[1, 2], [3, 4]]).sum(0).tolist()
        [4, 6]
    """
    return _reduce("sum", input, dim, keepdim, _dtype(dtype))


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum treating NaN as zero."""
    return _reduce("nansum", input, dim, keepdim, _dtype(dtype))


@autocast_op(FLOAT32)
def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product over ``dim`` (all dims when None)."""
    if input.requires_grad and isinstance(dim, (tuple, list)):
        raise RuntimeError("prod(): the gradient supports one dim or all dims")
    return _reduce("prod", input, dim, keepdim, _dtype(dtype))


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim``; floating point inputs only, as in PyTorch."""
    return _reduce("mean", input, dim, keepdim, _dtype(dtype))


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean of the non-NaN elements."""
    valid = reduce("sum", input.isnan().logical_not(), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / valid


def amax(input, dim=(), keepdim=False):
    """Largest value over ``dim`` (all dims when empty); NaN propagates."""
    return _reduce("amax", input, dim, keepdim)


def amin(input, dim=(), keepdim=False):
    """Smallest value over ``dim`` (all dims when empty); NaN propagates."""
    return _reduce("amin", input, dim, keepdim)


def _extreme(name, input, dim, keepdim):
    if dim is None:
        return _reduce("a" + name, input, None, False, node=name.capitalize() + "Backward1")
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        return FUNCTIONS["maximum" if name == "max" else "minimum"](input, dim)
    return getattr(return_types, name)(*_reduce("arg" + name, input, dim, keepdim))


def max(input, dim=None, keepdim=False):
    """Whole-tensor max; with ``dim`` a (values, indices) named tuple; with a tensor, maximum."""
    return _extreme("max", input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    """Whole-tensor min; with ``dim`` a (values, indices) named tuple; with a tensor, minimum."""
    return _extreme("min", input, dim, keepdim)


def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) over ``dim`` as a named tuple."""
    return return_types.aminmax(amin(input, () if dim is None else dim, keepdim),
                                amax(input, () if dim is None else dim, keepdim))


def _arg(name, input, dim, keepdim):
    if input.dtype is dtypes.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")
    if dim is None:
        flat = input.reshape(-1)
        index = reduce(name, flat, 0, False)[1]
        return index.reshape([1] * input.ndim) if keepdim else index
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    return reduce(name, input, dim, keepdim)[1]


def argmax(input, dim=None, keepdim=False):
    """Index of the largest value (over the flattened tensor when ``dim`` is None)."""
    return _arg("argmax", input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest value (over the flattened tensor when ``dim`` is None)."""
    return _arg("argmin", input, dim, keepdim)


def all(input, dim=None, keepdim=False):
    """True where every element over ``dim`` is non-zero."""
    return reduce("all", input, dim, keepdim)


def any(input, dim=None, keepdim=False):
    """True where some element over ``dim`` is non-zero."""
    return reduce("any", input, dim, keepdim)


def count_nonzero(input, dim=None):
    """Number of non-zero elements over ``dim`` (int64)."""
    return reduce("sum", input.ne(0), dim, False)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default)."""
    if input.dtype.category < 2:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = normalize_dims(dim, input.ndim)
    count = math.prod(input._shape[d] for d in dims)
    centred = input - mean(input, dims, keepdim=True)
    squares = sum(centred * centred, dims, keepdim)
    return squares / builtins.max(0, count - _correction(unbiased, correction))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation over ``dim`` with Bessel's ``correction`` (1 by default)."""
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(variance, mean) over ``dim``."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(standard deviation, mean) over ``dim``."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ``ord``-norm over ``dim``: 1, 2, inf, -inf, 0 or any other real ``ord``."""
    if dtype is not None:
        x = x.to(_dtype(dtype))
    if x.dtype.category < 2:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {x.dtype.legacy_name}")
    rows = {1: "norm1", 2: "norm2", math.inf: "norm_inf", -math.inf: "norm_ninf", 0: "norm0"}
    if ord not in rows:
        return sum(x.abs() ** ord, dim, keepdim) ** (1.0 / ord)
    return _reduce(rows[ord], x, dim, keepdim)


@autocast_op(FLOAT32_GPU)
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """``vector_norm`` with PyTorch's ``norm`` signature ('fro' is the 2-norm of the elements)."""
    if p in ("fro", None):
        p = 2
    if isinstance(p, str):
        raise RuntimeError(f"norm(): p='{p}' is not supported by cltorch yet")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def _float(input):
    return input if input.dtype.category == 2 else input.to(pointwise.default_float())


@autocast_op(FLOAT32_GPU)
def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(input)))`` over ``dim``, computed stably."""
    x = _float(input)
    dims = normalize_dims(dim, x.ndim)
    top = amax(x.detach(), dims, keepdim=True)  # a constant shift: no gradient through it
    top = FUNCTIONS["where"](top.isinf(), 0.0, top)
    out = sum((x - top).exp(), dims, keepdim=True).log() + top
    return out if keepdim else out.squeeze(dims) if dims else out


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``x1 . x2 / (max(|x1|, eps) * max(|x2|, eps))`` along ``dim``."""
    n1 = FUNCTIONS["clamp_min"](vector_norm(x1, 2, dim), eps)
    n2 = FUNCTIONS["clamp_min"](vector_norm(x2, 2, dim), eps)
    return (x1 * x2).sum(dim) / (n1 * n2)


def cdist(x1, x2, p=2.0):
    """Pairwise ``p``-norm distances between the rows of ``x1`` (.., P, M) and ``x2`` (.., R, M)."""
    if x1._shape[-1] != x2._shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1._shape[-1]} X2: {x2._shape[-1]}")
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


REDUCTIONS = {f.__name__: f for f in (
    sum, nansum, prod, mean, nanmean, amax, amin, max, min, aminmax, argmax, argmin, all, any,
    count_nonzero, var, std, var_mean, std_mean, norm, logsumexp, cosine_similarity, cdist)}
NAMESPACE = REDUCTIONS
METHODS = {name: fn for name, fn in REDUCTIONS.items()
           if name not in ("var_mean", "std_mean", "cosine_similarity", "cdist")}
