"""Indexing through tensors: index_select, gather, take, masked_fill, masked_select, nonzero,
where(cond), and ``tensor[index_tensor]`` / ``tensor[mask]`` reads.

nonzero and masked_select have a data-dependent size, so they read the mask back (a host sync,
as in PyTorch's CUDA backend); index checks read back an index's min and max.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .creation import tensor, zeros
from .functions import FUNCTIONS
from .indexing import is_int_index
from .ops import gather as gather_op
from .tensor import Tensor, normalize_dim


def _long_index(index, device):
    if not isinstance(index, Tensor):
        index = tensor(index, dtype=dtypes.int64, device=device)
    if index.dtype.category != 1:
        raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, "
                         f"got {index.dtype.legacy_name}")
    if index._storage.device is not device:
        index = index.to(device)
    return index if index.dtype is dtypes.int64 else index.long()


def index_select(input, dim, index):
    """The slices of ``input`` at ``index`` (1-D) along ``dim``."""
    d = normalize_dim(dim, input.ndim)
    index = _long_index(index, input._storage.device)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    n = index.numel()
    shape = list(input._shape) if input.ndim else [1]
    src = input if input.ndim else input.reshape(1)
    shape[d] = n
    view = [1] * len(shape)
    view[d] = n
    out = gather_op.gather(src, d, index.reshape(view), tuple(shape))
    return out if input.ndim else out.reshape(index.shape)


def gather(input, dim, index):
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` for dim 1 (and likewise for any dim)."""
    d = normalize_dim(dim, input.ndim)
    index = _long_index(index, input._storage.device)
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input "
                           "tensor")
    for k in range(input.ndim):
        if k != d and index._shape[k] > input._shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index "
                               f"{list(index._shape)} to be smaller than self "
                               f"{list(input._shape)} apart from dimension {d}")
    return gather_op.gather(input, d, index, index._shape)


def take(input, index):
    """``input.flatten()[index]``, in the shape of ``index``."""
    index = _long_index(index, input._storage.device)
    return index_select(input.reshape(-1), 0, index.reshape(-1)).view(index.shape)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True, else ``input`` (mask broadcasts)."""
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.legacy_name}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but "
                               f"got tensor with {value.ndim} dimension(s).")
        value = value.item()
    fill = zeros((), dtype=input.dtype, device=input._storage.device).fill_(value)
    return FUNCTIONS["where"](mask, fill, input)


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
    from .ops.layout import broadcast_shapes
    return broadcast_shapes(a._shape, b._shape)


def advanced_getitem(x, index):
    """``x[index]`` where ``index`` holds one index tensor/list or one bool mask."""
    items = index if isinstance(index, tuple) else (index,)
    tensor_at = [i for i, item in enumerate(items) if _is_tensor_index(item)]
    if len(tensor_at) != 1:
        raise IndexError("indexing with several index tensors is not supported by cltorch yet; "
                         "use one index tensor (or mask) per indexing expression")
    at = tensor_at[0]
    item = items[at]
    if not isinstance(item, Tensor):
        item = tensor(item, device=x._storage.device)
    if item.dtype is dtypes.bool_ and at == 0 and len(items) == 1:
        return _mask_getitem(x, item)
    if item.dtype is dtypes.bool_:
        raise IndexError("a bool mask is supported alone (x[mask]) in cltorch for now")
    before = items[:at]
    dim = sum(1 for i in before if i is not None and not isinstance(i, int)) \
        if Ellipsis not in before else None
    if dim is None:
        raise IndexError("an index tensor after '...' is not supported by cltorch yet")
    base = x[items[:at] + (slice(None),) + items[at + 1:]]
    selected = index_select(base, dim, item.reshape(-1))
    shape = base._shape[:dim] + tuple(item._shape) + base._shape[dim + 1:]
    result = selected.reshape(shape)
    # NumPy's rule: integers count as advanced indices; when one is separated from the index
    # tensor by a slice (or None), the advanced dims go first.
    group = sorted([i for i, it in enumerate(items) if is_int_index(it)] + [at])
    if group != list(range(group[0], group[-1] + 1)) and dim:
        k = item.ndim
        result = result.movedim(list(range(dim, dim + k)), list(range(k)))
    return result


def _mask_getitem(x, mask):
    k = mask.ndim
    if mask._shape != x._shape[:k]:
        raise IndexError(f"The shape of the mask {list(mask._shape)} at index 0 does not match "
                         f"the shape of the indexed tensor {list(x._shape)} at index 0")
    flat = np.flatnonzero(mask._host_values())
    rows = x.reshape((-1,) + x._shape[k:])
    return index_select(rows, 0, tensor(flat, dtype=dtypes.int64, device=x._storage.device))


def _is_tensor_index(item):
    if isinstance(item, Tensor):
        return item.ndim > 0 or item.dtype is dtypes.bool_
    return isinstance(item, (list, np.ndarray))


INDEXING = {f.__name__: f for f in (index_select, gather, take, masked_fill, nonzero,
                                     masked_select)}
for _name in INDEXING:
    setattr(Tensor, _name, INDEXING[_name])
Tensor.masked_fill_ = masked_fill_
