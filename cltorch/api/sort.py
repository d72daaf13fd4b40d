"""Sorting and order statistics: sort, argsort, msort, topk, kthvalue, median."""
from __future__ import annotations

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..autograd.graph import record
from ..ops.reduce import evenly
from ..ops.sort import sort_rows
from ..tensor import normalize_dim
from .creation import empty, full
from .pointwise import FUNCTIONS
from .reduce import _return_type, return_types

for _name in ("sort", "topk", "kthvalue", "median"):
    setattr(return_types, _name, _return_type(_name, "values indices"))


def _along_last(input, dim, fn):
    """Run ``fn`` on ``input`` as contiguous (rows, len) with ``dim`` last; restore the dims."""
    if input.ndim == 0:
        values, index = fn(input.reshape(1, 1))
        return values.reshape(()), index.reshape(())
    d = normalize_dim(dim, input.ndim)
    if input.numel() == 0:
        return input.clone(), empty(input.shape, dtype=dtypes.int64, device=input._storage.device)
    moved = input.movedim(d, -1)
    rows = moved.contiguous().reshape(-1, moved._shape[-1])
    values, index = fn(rows)
    if rows.requires_grad:  # the picked values' gradients go back to where they came from
        rows_shape = rows._shape
        record((values, index), "SortBackward0", (rows,), lambda g, _, index: g.new_zeros(
            rows_shape).scatter(1, index, g), saved=(index,))
    shape = moved._shape[:-1] + (values._shape[-1],)
    return values.reshape(shape).movedim(-1, d), index.reshape(shape).movedim(-1, d)


def sort(input, dim=-1, descending=False, stable=False):
    """Sorted values and their indices along ``dim`` (always stable; NaN sorts as largest)."""
    values, index = _along_last(input, dim, lambda rows: sort_rows(rows, descending))
    return return_types.sort(values, index)


def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim``."""
    return sort(input, dim, descending).indices


def msort(input):
    """``sort(input, dim=0).values``."""
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
    size = input._shape[normalize_dim(dim, input.ndim)] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    values, index = _along_last(input, dim, lambda rows: tuple(
        t.narrow(1, 0, k) for t in sort_rows(rows, largest)))
    return return_types.topk(values, index)


def kthvalue(input, k, dim=-1, keepdim=False):
    """The ``k``-th smallest element along ``dim`` (1-based) and its index."""
    size = input._shape[normalize_dim(dim, input.ndim)] if input.ndim else 1
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
    values, index = _along_last(input, dim, lambda rows: tuple(
        t.narrow(1, k - 1, 1) for t in sort_rows(rows, False)))
    if not keepdim and input.ndim:
        d = normalize_dim(dim, input.ndim)
        values, index = values.squeeze(d), index.squeeze(d)
    return return_types.kthvalue(values, index)


def median(input, dim=None, keepdim=False):
    """Lower median (NaN when the slice holds a NaN, as in PyTorch); with ``dim``, also its
    index."""
    if dim is None:
        flat = input.reshape(-1)
        if flat.numel() == 0:
            return _nan_like(flat)
        with no_grad():
            out = median(flat, 0).values
        if input.requires_grad:  # ties share the gradient, as in PyTorch's median()
            record(out, "MedianBackward0", (input,), lambda g, x, out: evenly(
                g, x, out, tuple(range(x.ndim)), False), saved=(input,), save_outputs=True)
        return out
    d = normalize_dim(dim, input.ndim)
    size = input._shape[d] if input.ndim else 1
    values, index = kthvalue(input, (size + 1) // 2, d, keepdim)
    if input.dtype.category == 2:
        nan = input.isnan()
        has_nan = nan.any(d, keepdim=keepdim)
        first_nan = nan.to(dtypes.int32).argmax(d, keepdim=keepdim)
        values = values.masked_fill(has_nan, float("nan"))
        index = _where(has_nan, first_nan, index)
    return return_types.median(values, index)


def _where(cond, a, b):
    return FUNCTIONS["where"](cond, a, b)


def _nan_like(flat):
    return full((), float("nan"), dtype=flat.dtype, device=flat._storage.device)


SORTING = {f.__name__: f for f in (sort, argsort, msort, topk, kthvalue, median)}
NAMESPACE = METHODS = SORTING
