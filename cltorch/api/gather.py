"""Reading through index tensors: index_select, gather, take, masked_fill, masked_select,
nonzero, and ``tensor[index]`` with index tensors, lists and masks (``AdvancedIndex``, which
``api.scatter`` shares for writes).

nonzero and masked_select have a data-dependent size, so they read the mask back (a host sync,
as in PyTorch's CUDA backend); index checks read back an index's min and max.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.graph import record
from ..ops import gather as gather_op
from ..ops.array import check_device
from ..ops.layout import broadcast_shapes
from ..tensor import Tensor, normalize_dim
from .creation import tensor, zeros
from .layout import basic_view, is_basic, is_int_index
from .pointwise import FUNCTIONS


def _long_index(index, device, move=True):
    """``index`` as an int64 tensor on ``device``. Subscripts (``x[i]``) may bring their index
    from another device, as in PyTorch; the index ops (``move=False``) may not."""
    if not isinstance(index, Tensor):
        index = tensor(index, dtype=dtypes.int64, device=device)
    if index.dtype.category != 1:
        raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, "
                         f"got {index.dtype.legacy_name}")
    if index._storage.device is not device:
        if not move:
            check_device(device, index._storage.device)
        index = index.to(device)
    return index if index.dtype is dtypes.int64 else index.long()


def index_select(input, dim, index):
    """The slices of ``input`` at ``index`` (1-D) along ``dim``."""
    d = normalize_dim(dim, input.ndim)
    index = _long_index(index, input._storage.device, move=False)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    n = index.numel()
    shape = list(input._shape) if input.ndim else [1]
    src = input if input.ndim else input.reshape(1)
    shape[d] = n
    view = [1] * len(shape)
    view[d] = n
    out = gather_op.gather(src, d, index.reshape(view), tuple(shape), IndexError,
                           "index out of range in self")
    if input.requires_grad:
        src_shape = src._shape  # the node keeps the shape, not the tensor
        record(out, "IndexSelectBackward0", (src,), lambda g, index: g.new_zeros(
            src_shape).index_add_(d, index, g), saved=(index,))
    return out if input.ndim else out.reshape(index.shape)


def gather(input, dim, index):
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` for dim 1 (and likewise for any dim)."""
    d = normalize_dim(dim, input.ndim)
    index = _long_index(index, input._storage.device, move=False)
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input "
                           "tensor")
    for k in range(input.ndim):
        if k != d and index._shape[k] > input._shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index "
                               f"{list(index._shape)} to be smaller than self "
                               f"{list(input._shape)} apart from dimension {d}")
    out = gather_op.gather(input, d, index, index._shape)
    if input.requires_grad:
        shape = input._shape
        record(out, "GatherBackward0", (input,), lambda g, index: g.new_zeros(
            shape).scatter_add(d, index, g), saved=(index,))
    return out


def take(input, index):
    """``input.flatten()[index]``, in the shape of ``index`` (negative indices count from the
    end, as in PyTorch)."""
    index = _long_index(index, input._storage.device, move=False)
    flat = FUNCTIONS["where"](index < 0, index + input.numel(), index)
    return index_select(input.reshape(-1), 0, flat.reshape(-1)).view(index.shape)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True, else ``input`` (mask broadcasts)."""
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.legacy_name}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but "
                               f"got tensor with {value.ndim} dimension(s).")
        if value.requires_grad:  # keep it a tensor: its gradient is the masked sum
            return FUNCTIONS["where"](mask, value.to(input.dtype), input)
        value = value.item()
    dtypes.check_fits(value, input.dtype)
    if _keeps_dtype(input.dtype, value):  # no 0-dim tensor to make
        return FUNCTIONS["where"](mask, value, input)
    fill = zeros((), dtype=input.dtype, device=input._storage.device).fill_(value)
    return FUNCTIONS["where"](mask, fill, input)


def _keeps_dtype(dtype, value) -> bool:
    """Whether where() of ``value`` and a ``dtype`` tensor keeps ``dtype``: a Python number of
    the tensor's kind or a lower one (a bool anywhere, an int for integers and floats)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return dtype.category >= 1
    return isinstance(value, float) and dtype.is_floating_point


def masked_fill_(self, mask, value):
    """In-place ``masked_fill``."""
    return self.copy_(masked_fill(self, mask, value))


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or a tuple of n-vectors."""
    values, device = input._host_values(), input._storage.device
    if input.ndim == 0:
        count = int(bool(values))
        if as_tuple:
            return (zeros(count, dtype=dtypes.int64, device=device),)
        return zeros(count, 0, dtype=dtypes.int64, device=device)
    found = np.nonzero(values)
    if as_tuple:
        return tuple(tensor(i, dtype=dtypes.int64, device=device) for i in found)
    return tensor(np.stack(found, 1), dtype=dtypes.int64, device=device)


def masked_select(input, mask):
    """The elements where ``mask`` (broadcast) is True, as a 1-D tensor."""
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    a, m = input.broadcast_to(_shape(input, mask)), mask.broadcast_to(_shape(input, mask))
    flat = np.flatnonzero(m._host_values())
    return take(a.contiguous(), tensor(flat, dtype=dtypes.int64, device=input._storage.device))


def _shape(a, b):
    return broadcast_shapes(a._shape, b._shape)


class AdvancedIndex:
    """``x[index]`` with index tensors, split as PyTorch does: ints, slices and None make a
    basic view ``base``; the index tensors (masks become their nonzero coordinates) broadcast
    together and pick along the base dims ``dims``.

    ``front``: the index tensors were not next to each other, so the result's advanced dims
    go first; otherwise they replace ``dims`` in place (NumPy's and PyTorch's rule).
    """

    def __init__(self, x, index):
        device = x._storage.device
        items = [_as_index(item, device) for item in
                 (index if isinstance(index, tuple) else (index,))]
        basic, picks, self.dims = [], [], []
        dim = 0  # dim of x the next item indexes
        for item in _expand_ellipsis(x, items):
            if item is None or isinstance(item, slice) or is_int_index(item):
                basic.append(item)
                dim += item is not None
                continue
            if item.ndim == 0:  # x[True] is x[None]; x[False] is x[None][[]]
                coords = [zeros(int(bool(item.item())), dtype=dtypes.int64, device=device)]
                basic_item = None
            else:
                coords = _mask_coords(x, item, dim) if item.dtype is dtypes.bool_ else [item]
                basic_item = slice(None)
                dim += item.ndim if item.dtype is dtypes.bool_ else 1
            for coord in coords:
                # its dim in base: ints select (and drop out) before the tensors pick
                self.dims.append(sum(1 for b in basic if not is_int_index(b)))
                basic.append(basic_item)
                picks.append(coord)
        self.base = x[tuple(basic)]
        self.front = self.dims != list(range(self.dims[0], self.dims[0] + len(self.dims)))
        self.picks = _broadcast_picks(picks)
        self.shape = tuple(self.picks[0]._shape)

    def result_shape(self) -> tuple:
        """The shape of ``x[index]``."""
        base, dims = self.base._shape, self.dims
        rest = tuple(s for d, s in enumerate(base) if d not in dims)
        if self.front:
            return self.shape + rest
        return base[:dims[0]] + self.shape + rest[dims[0]:]

    def linear(self):
        """One int64 index into the advanced dims taken together (row-major), negatives
        wrapped, every index checked against its dim's size."""
        linear = None
        for d, pick in zip(self.dims, self.picks):
            size = self.base._shape[d]
            gather_op.check_range(pick, size, d, IndexError, negative=True)
            pick = pick.remainder(size) if size else pick
            linear = pick if linear is None else linear * size + pick
        return linear.reshape(-1)

    def grouped(self):
        """``base`` with the advanced dims moved first (a view): (view, rest dims' sizes)."""
        rest = [d for d in range(self.base.ndim) if d not in self.dims]
        return self.base.permute(self.dims + rest), tuple(self.base._shape[d] for d in rest)

    def to_picked_layout(self, t):
        """A tensor shaped like ``x[index]`` with the advanced dims moved first."""
        if self.front or self.dims[0] == 0:
            return t
        k, first = len(self.shape), self.dims[0]
        return t.movedim(list(range(first, first + k)), list(range(k)))


def _as_index(item, device):
    if isinstance(item, (list, np.ndarray, bool, np.bool_)):
        item = tensor(item, device=device)
        return item if item.dtype is dtypes.bool_ or item.numel() else item.long()
    if isinstance(item, Tensor) and not is_int_index(item):
        if item.dtype.category != 1 and item.dtype is not dtypes.bool_:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return item.to(device) if item.dtype is dtypes.bool_ else _long_index(item, device)
    return item


def _expand_ellipsis(x, items):
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(_dims_used(item) for item in items)
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items = items[:at] + [slice(None)] * (x.ndim - used) + items[at + 1:]
    return items


def _dims_used(item):
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, Tensor) and item.dtype is dtypes.bool_:
        return item.ndim
    return 1


def _mask_coords(x, mask, dim):
    shape = x._shape[dim:dim + mask.ndim]
    for i, (m, s) in enumerate(zip(mask._shape, shape)):
        if m != s:
            raise IndexError(f"The shape of the mask {list(mask._shape)} at index {i} does not "
                             f"match the shape of the indexed tensor {list(x._shape)} at index "
                             f"{dim + i}")
    return list(nonzero(mask, as_tuple=True))


def _broadcast_picks(picks):
    try:
        shape = broadcast_shapes(*(p._shape for p in picks))
    except RuntimeError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together "
                         "with shapes " + ", ".join(str(list(p._shape)) for p in picks))
    return [p.expand(shape) for p in picks]


def advanced_getitem(x, index):
    """``x[index]`` where ``index`` holds index tensors, lists or bool masks."""
    plan = AdvancedIndex(x, index)
    linear = plan.linear()
    if len(plan.dims) == 1:
        d = plan.dims[0]
        picked = index_select(plan.base, d, linear)
        return picked.reshape(plan.base._shape[:d] + plan.shape + plan.base._shape[d + 1:])
    grouped, rest = plan.grouped()
    picked = index_select(grouped.reshape((-1,) + rest), 0, linear).reshape(plan.shape + rest)
    if plan.front:
        return picked
    k, first = len(plan.shape), plan.dims[0]
    return picked.movedim(list(range(k)), list(range(first, first + k)))


def getitem(self, index):
    """``tensor[index]``: a view for ints, slices, None and ``...``; a gather for tensors,
    lists and masks."""
    if is_basic(index):
        return basic_view(self, index)
    return advanced_getitem(self, index)


INDEXING = {f.__name__: f for f in (index_select, gather, take, masked_fill, nonzero,
                                     masked_select)}
NAMESPACE = INDEXING
METHODS = dict(INDEXING, masked_fill_=masked_fill_, __getitem__=getitem)
