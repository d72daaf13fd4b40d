"""Writes through index tensors: scatter (with reductions), scatter_add, scatter_reduce,
index_add_/index_copy_/index_fill_, index_put_, put_, masked_scatter_ and ``x[index] = value``.

All of them end in the ``scatter`` op (``ops/scatter.py``); index checks read back an index's
min and max, as reads do.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import inplace
from ..autograd.grad_mode import no_grad
from ..autograd.graph import record
from ..autograd.views import region_backward
from ..ops import pointwise, scatter as scatter_op
from ..ops.array import check_device
from ..ops.gather import BOUNDS, check_range
from ..tensor import Tensor, normalize_dim
from .creation import ones, zeros
from .gather import AdvancedIndex, _long_index
from .layout import is_basic
from .pointwise import FUNCTIONS


def _scatter(self, d, index, src, mode, checked=False):
    """``ops.scatter`` into ``self``, recorded for autograd when it must be: the new value is
    built in a copy with a node of its own, then written into ``self``."""
    tensor_src = isinstance(src, Tensor)
    if not inplace.tracked(self, (src,) if tensor_src else ()):
        scatter_op.scatter(self, d, index, src, mode, checked)
        return self

    def compute():
        with no_grad():
            out = self.clone()
            scatter_op.scatter(out, d, index, src, mode, checked)
        return record(out, _SCATTER_NODES[mode], (self, src),
                      lambda g: _scatter_backward(g, d, index, src, mode))
    return inplace.write(self, compute)


_SCATTER_NODES = {"set": "ScatterBackward0", "add": "ScatterAddBackward0",
                  "multiply": "ScatterReduceBackward0", "amax": "ScatterReduceBackward0",
                  "amin": "ScatterReduceBackward0"}


def _scatter_backward(g, d, index, src, mode):
    if mode not in ("set", "add"):
        raise RuntimeError(f"the derivative for scatter with reduce='{mode}' is not implemented "
                           f"in cltorch")
    grad_self = g if mode == "add" else g.scatter(d, index, 0.0)
    if not isinstance(src, Tensor):
        return grad_self, None
    grad_src = g.gather(d, index)
    if grad_src._shape != src._shape:  # src may be larger than index: the rest gets zeros
        part = tuple(slice(0, n) for n in index._shape)
        grad_src = region_backward(grad_src, src._shape, lambda t: t[part])
    return grad_self, grad_src


def _scatter_args(input, dim, index, src):
    d = normalize_dim(dim, input.ndim)
    index = _long_index(index, input._storage.device, move=False)
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if isinstance(src, Tensor):
        if src.dtype is not input.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        check_device(input._storage.device, src._storage.device)
    for k in range(input.ndim):
        too_big = (k != d and index._shape[k] > input._shape[k]) or (
            isinstance(src, Tensor) and index._shape[k] > src._shape[k])
        if too_big:
            raise RuntimeError(f"Expected index {list(index._shape)} to be smaller than self "
                               f"{list(input._shape)} apart from dimension {d}" +
                               (f" and to be smaller size than src {list(src._shape)}"
                                if isinstance(src, Tensor) else ""))
    return d, index, src


def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
    """``self[..., index[c], ...] = src[c]`` along ``dim``; ``reduce='add'`` adds and
    ``reduce='multiply'`` multiplies instead (duplicates combine)."""
    modes = {None: "set", "add": "add", "multiply": "multiply"}
    if reduce not in modes:
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")
    src = value if src is None else src
    d, index, src = _scatter_args(self, dim, index, src)
    return _scatter(self, d, index, src, modes[reduce])


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Out-of-place ``scatter_``."""
    return scatter_(input.clone(), dim, index, src, value=value, reduce=reduce)


_REDUCE_MODES = {"sum": "add", "prod": "multiply", "mean": "add", "amax": "amax",
                 "amin": "amin"}


def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
    """Reduce ``src`` into ``self`` along ``dim`` at ``index`` with ``reduce`` in sum, prod,
    mean, amax, amin; ``include_self=False`` leaves the old values of hit positions out."""
    if reduce not in _REDUCE_MODES:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    if not isinstance(src, Tensor) or src.dtype is not self.dtype:
        raise RuntimeError("scatter_reduce(): Expected self.dtype to be equal to src.dtype")
    d, index, src = _scatter_args(self, dim, index, src)
    if reduce in ("prod", "amax", "amin") and inplace.tracked(self, (src,)):
        kept = self.clone()  # the node saves the old values that the write replaces
        return inplace.write(self, lambda: _extreme_reduce(kept, d, index, src, reduce,
                                                           include_self))
    if not include_self:
        _scatter(self, d, index, _identity(reduce, self.dtype), "set")
    _scatter(self, d, index, src, _REDUCE_MODES[reduce])
    if reduce == "mean":
        counts = (ones if include_self else zeros)(self.shape, dtype=self.dtype,
                                                    device=self.device)
        scatter_op.scatter(counts, d, index, 1, "add")
        counts = counts.clamp_(min=1)
        self.div_(counts, rounding_mode=None if self.dtype.is_floating_point else "floor")
    return self


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Out-of-place ``scatter_reduce_``."""
    return scatter_reduce_(input.clone(), dim, index, src, reduce, include_self=include_self)


def _extreme_reduce(self, d, index, src, reduce, include_self):
    """scatter_reduce with prod/amax/amin out of place, with its own node: amax/amin share the
    gradient among the values equal to the result (as PyTorch), prod sends each value the
    product of the others."""
    with no_grad():
        out = scatter_reduce_(self.clone(), d, index, src, reduce, include_self=include_self)
        hit = zeros(self.shape, dtype=dtypes.bool_, device=self.device).scatter_(d, index, True)
    part = tuple(slice(0, n) for n in index._shape)

    def backward(g, x, r, y):
        r_used = r[part]
        if reduce == "prod":
            g_self, g_src = _prod_grads(g, x, r_used, y, d, index, hit, include_self)
        else:
            g_self, g_src = _extreme_grads(g, x, r_used, y, d, index, hit, include_self)
        if g_src._shape != r._shape:
            g_src = region_backward(g_src, r._shape, lambda t: t[part])
        return g_self, g_src
    return record(out, "ScatterReduceBackward0", (self, src), backward, saved=(self, src),
                  save_outputs=True)


def _extreme_grads(g, x, r, y, d, index, hit, include_self):
    at_src = r == y.gather(d, index)
    at_self = x == y  # counted even when include_self=False, as PyTorch counts it
    count = at_self.to(g.dtype).scatter_add(d, index, at_src.to(g.dtype))
    share = g / count
    g_self = share.masked_fill(~at_self if include_self else ~at_self | hit, 0.0)
    return g_self, share.gather(d, index).masked_fill(~at_src, 0.0)


def _prod_grads(g, x, r, y, d, index, hit, include_self):
    """Each value's gradient is g times the product of the others at its position. Without
    zeros that is y / value; with zeros it is counted out (not differentiable twice)."""
    mine = x if include_self else x.masked_fill(hit, 1.0)
    if not bool((r == 0).any()) and not bool((mine == 0).any()):
        g_self = g * y / mine if include_self else (g * y / mine).masked_fill(hit, 0.0)
        return g_self, (g * y).gather(d, index) / r
    if g.requires_grad:
        raise NotImplementedError("second derivatives of scatter_reduce(prod) through zeros are "
                                  "not supported by cltorch")
    with no_grad():
        zeros_at = (mine == 0).to(g.dtype).scatter_add(d, index, (r == 0).to(g.dtype))
        nonzero = mine.masked_fill(mine == 0, 1.0).scatter_reduce(
            d, index, r.masked_fill(r == 0, 1.0), "prod")
        others_self = _others(mine, nonzero, zeros_at)
        others_src = _others(r, nonzero.gather(d, index), zeros_at.gather(d, index))
    g_self = g * others_self
    return (g_self if include_self else g_self.masked_fill(hit, 0.0),
            g.gather(d, index) * others_src)


def _others(values, nonzero_product, zero_count):
    """The product of the other values at a position, from the product of its non-zero values
    and its count of zeros."""
    mine_zero = values == 0
    without_me = nonzero_product / values.masked_fill(mine_zero, 1.0)
    return FUNCTIONS["where"](mine_zero, nonzero_product.masked_fill(zero_count != 1, 0.0),
                              without_me.masked_fill(zero_count > 0, 0.0))


def _identity(reduce, dtype):
    """The start value of positions that ``include_self=False`` leaves their old value out of."""
    if reduce in ("sum", "mean", "prod"):
        return int(reduce == "prod")
    if dtype.is_floating_point:
        return float("-inf") if reduce == "amax" else float("inf")
    if dtype is dtypes.bool_:
        return reduce == "amin"
    limits = np.iinfo(dtype.storage_np)
    return int(limits.min if reduce == "amax" else limits.max)


def scatter_add_(self, dim, index, src):
    """``self[..., index[c], ...] += src[c]`` along ``dim`` (duplicates accumulate)."""
    return scatter_(self, dim, index, src, reduce="add")


def scatter_add(input, dim, index, src):
    return scatter_add_(input.clone(), dim, index, src)


def _along(self, dim, index, error, prefix="", negative=False, message=None):
    """A 1-D ``index`` broadcast over the selection ``self`` with ``dim`` resized to it,
    checked as the op that calls it checks in PyTorch (``error``, message ``prefix``, whether
    negative indices count from the end)."""
    d = normalize_dim(dim, self.ndim)
    index = _long_index(index, self._storage.device, move=False)
    if index.ndim > 1:
        raise IndexError("index_add_(): Index is supposed to be a vector")
    size = self._shape[d] if self.ndim else 1
    if negative:
        index = FUNCTIONS["where"](index < 0, index + size, index)
    check_range(index, size, d, error, message=message or prefix + BOUNDS)
    shape = list(self._shape)
    shape[d] = index.numel()
    view = [1] * self.ndim
    view[d] = index.numel()
    return d, index.reshape(view).expand(shape), shape


def index_add_(self, dim, index, source, *, alpha=1):
    """``self.select(dim, index[i]) += alpha * source.select(dim, i)``."""
    # PyTorch's own check differs with the rank: 1-D is index_select's, the rest its kernel's
    d, expanded, shape = (_along(self, dim, index, IndexError,
                                 message="index out of range in self") if self.ndim <= 1 else
                          _along(self, dim, index, RuntimeError))
    if tuple(source._shape) != tuple(shape):
        raise RuntimeError(f"index_add_(): source shape {list(source._shape)} does not match "
                           f"the selection {shape}")
    src = source if alpha == 1 else source * alpha
    return _scatter(self, d, expanded, src.to(self.dtype), "add", checked=True)


def index_copy_(self, dim, index, source):
    """``self.select(dim, index[i]) = source.select(dim, i)``."""
    d, expanded, shape = _along(self, dim, index, IndexError, "index_copy_(): ")
    if tuple(source._shape) != tuple(shape):
        raise RuntimeError(f"index_copy_(): source shape {list(source._shape)} does not match "
                           f"the selection {shape}")
    return _scatter(self, d, expanded, source.to(self.dtype), "set", checked=True)


def index_fill_(self, dim, index, value):
    """``self.select(dim, index[i]) = value``."""
    d, expanded, _ = _along(self, dim, index, IndexError, negative=True)
    value = value.item() if isinstance(value, Tensor) else value
    dtypes.check_fits(value, self.dtype)
    return _scatter(self, d, expanded, value, "set", checked=True)


def index_add(input, dim, index, source, *, alpha=1):
    """Out-of-place ``index_add_``."""
    return index_add_(input.clone(), dim, index, source, alpha=alpha)


def index_copy(input, dim, index, source):
    """Out-of-place ``index_copy_``."""
    return index_copy_(input.clone(), dim, index, source)


def index_fill(input, dim, index, value):
    """Out-of-place ``index_fill_``."""
    return index_fill_(input.clone(), dim, index, value)


def index_put_(self, indices, values, accumulate=False):
    """``self[indices] = values`` (``+=`` with ``accumulate``: duplicates add up) for a tuple
    of index tensors or masks, as ``x[i, j] = v``."""
    _put(self, tuple(indices), values, accumulate)
    return self


def index_put(input, indices, values, accumulate=False):
    """Out-of-place ``index_put_``."""
    return index_put_(input.clone(), indices, values, accumulate)


def put_(self, index, source, accumulate=False):
    """``self.flatten()[index] = source`` (``+=`` with ``accumulate``), in place."""
    if not self.is_contiguous():
        raise RuntimeError("put_(): the tensor must be contiguous in cltorch")
    index_put_(self.view(-1), (index.reshape(-1),), source.reshape(-1), accumulate)
    return self


def advanced_setitem(x, index, value):
    """``x[index] = value`` where ``index`` holds index tensors, lists or bool masks."""
    _put(x, index, value, False)


def _put(x, index, value, accumulate):
    plan = AdvancedIndex(x, index)
    shape = plan.result_shape()
    if not isinstance(value, Tensor):
        value = zeros((), dtype=x.dtype, device=x._storage.device).fill_(value)
    value = value.to(x._storage.device, x.dtype)
    try:
        value = value.expand(shape)
    except RuntimeError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot "
                           f"be broadcast to indexing result of shape {list(shape)}") from None
    linear, write = plan.linear(), (index_add_ if accumulate else index_copy_)
    if len(plan.dims) == 1:
        d = plan.dims[0]
        base = plan.base
        write(base, d, linear, value.reshape(base._shape[:d] + (-1,) + base._shape[d + 1:]))
        return
    grouped, rest = plan.grouped()
    value = plan.to_picked_layout(value).reshape((-1,) + rest)
    try:
        write(grouped.view((-1,) + rest), 0, linear, value)
    except RuntimeError as error:  # the advanced dims do not merge in place: write a copy back
        if "view" not in str(error):
            raise
        merged = grouped.reshape((-1,) + rest)
        write(merged, 0, linear, value)
        grouped.copy_(merged.view(grouped.shape))


def masked_scatter_(self, mask, source):
    """Copy ``source``'s elements, in order, into ``self`` where ``mask`` is True."""
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {mask.dtype.legacy_name}")
    if source.dtype is not self.dtype:
        raise RuntimeError(f"masked_scatter_: expected self and source to have same dtypes but "
                           f"got {self.dtype.legacy_name} and {source.dtype.legacy_name}")
    mask = mask.to(self._storage.device).expand(self.shape)
    positions = mask.reshape(-1).cumsum(0)
    count = positions[-1].item() if positions.numel() else 0
    if count > source.numel():
        raise RuntimeError("Number of elements of source < number of ones in mask")
    if count:
        picked = source.to(self._storage.device).reshape(-1).take((positions - 1).clamp_(min=0))
        self.copy_(FUNCTIONS["where"](mask, picked.view(self.shape), self))
    return self


def masked_scatter(input, mask, source):
    """Out-of-place ``masked_scatter_``."""
    return masked_scatter_(input.clone(), mask, source)


def setitem(self, index, value):
    """``tensor[index] = value``: a copy into the view for basic indices, else a scatter."""
    if not is_basic(index):
        advanced_setitem(self, index, value)
        return
    target = self[index]
    if isinstance(value, Tensor):
        target.copy_(value)
    elif inplace.tracked(target):
        target.fill_(value)
    else:
        pointwise.apply("copy", [value], out=target, inplace=True)


WRITES = {f.__name__: f for f in (scatter, scatter_add, scatter_reduce, index_put,
                                  masked_scatter, index_add, index_copy, index_fill)}
NAMESPACE = WRITES
METHODS = dict(WRITES, **{f.__name__: f for f in (
    scatter_, scatter_add_, scatter_reduce_, index_add_, index_copy_, index_fill_, index_put_,
    put_, masked_scatter_)}, __setitem__=setitem)
