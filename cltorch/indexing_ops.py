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
from .ops import scatter as scatter_op
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


def _scatter_args(input, dim, index, src):
    d = normalize_dim(dim, input.ndim)
    index = _long_index(index, input._storage.device)
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if isinstance(src, Tensor):
        if src.dtype is not input.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        src = src.to(input._storage.device)
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
    """``self[..., index[c], ...] = src[c]`` along ``dim`` (``reduce='add'`` adds)."""
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter(reduce='{reduce}') is not supported by cltorch yet")
    src = value if src is None else src
    d, index, src = _scatter_args(self, dim, index, src)
    scatter_op.scatter(self, d, index, src, "add" if reduce == "add" else "set")
    return self


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Out-of-place ``scatter_``."""
    return scatter_(input.clone(), dim, index, src, value=value, reduce=reduce)


def scatter_add_(self, dim, index, src):
    """``self[..., index[c], ...] += src[c]`` along ``dim`` (duplicates accumulate)."""
    return scatter_(self, dim, index, src, reduce="add")


def scatter_add(input, dim, index, src):
    return scatter_add_(input.clone(), dim, index, src)


def _along(self, dim, index, n_like):
    """A 1-D ``index`` broadcast over the selection ``self`` with ``dim`` resized to it."""
    d = normalize_dim(dim, self.ndim)
    index = _long_index(index, self._storage.device)
    if index.ndim > 1:
        raise IndexError("index_add_(): Index is supposed to be a vector")
    shape = list(self._shape)
    shape[d] = index.numel()
    view = [1] * self.ndim
    view[d] = index.numel()
    return d, index.reshape(view).expand(shape), shape


def index_add_(self, dim, index, source, *, alpha=1):
    """``self.select(dim, index[i]) += alpha * source.select(dim, i)``."""
    d, expanded, shape = _along(self, dim, index, source)
    if tuple(source._shape) != tuple(shape):
        raise RuntimeError(f"index_add_(): source shape {list(source._shape)} does not match "
                           f"the selection {shape}")
    src = source if alpha == 1 else source * alpha
    scatter_op.scatter(self, d, expanded, src.to(self.dtype), "add")
    return self


def index_copy_(self, dim, index, source):
    """``self.select(dim, index[i]) = source.select(dim, i)``."""
    d, expanded, shape = _along(self, dim, index, source)
    if tuple(source._shape) != tuple(shape):
        raise RuntimeError(f"index_copy_(): source shape {list(source._shape)} does not match "
                           f"the selection {shape}")
    scatter_op.scatter(self, d, expanded, source.to(self.dtype), "set")
    return self


def index_fill_(self, dim, index, value):
    """``self.select(dim, index[i]) = value``."""
    d, expanded, _ = _along(self, dim, index, None)
    scatter_op.scatter(self, d, expanded, value.item() if isinstance(value, Tensor) else value,
                       "set")
    return self


def index_put_(self, indices, values, accumulate=False):
    """``self[indices] = values`` (``+=`` with ``accumulate``) for one index tensor or mask."""
    indices = tuple(indices)
    if len(indices) != 1:
        raise NotImplementedError("index_put_ with several index tensors is not supported by "
                                  "cltorch yet")
    index = indices[0]
    if isinstance(index, Tensor) and index.dtype is dtypes.bool_:
        if accumulate or isinstance(values, Tensor) and values.numel() != 1:
            raise NotImplementedError("index_put_ with a mask takes one value in cltorch")
        return self.masked_fill_(index, values.item() if isinstance(values, Tensor) else values)
    index = _long_index(index, self._storage.device).reshape(-1)
    shape = (index.numel(),) + self._shape[1:]
    if not isinstance(values, Tensor):
        values = zeros((), dtype=self.dtype, device=self._storage.device).fill_(values)
    values = values.to(self._storage.device, self.dtype).expand(shape)
    return (index_add_ if accumulate else index_copy_)(self, 0, index, values)


def put_(self, index, source, accumulate=False):
    """``self.flatten()[index] = source`` (``+=`` with ``accumulate``), in place."""
    if not self.is_contiguous():
        raise RuntimeError("put_(): the tensor must be contiguous in cltorch")
    index_put_(self.view(-1), (index.reshape(-1),), source.reshape(-1), accumulate)
    return self


def advanced_setitem(x, index, value):
    """``x[index] = value`` for one index tensor (or list) among basic indices, or a mask."""
    items = index if isinstance(index, tuple) else (index,)
    if len(items) == 1 and isinstance(items[0], Tensor) and items[0].dtype is dtypes.bool_:
        index_put_(x, items, value)
        return
    tensor_at = [i for i, item in enumerate(items) if _is_tensor_index(item)]
    if len(tensor_at) != 1 or Ellipsis in items[:tensor_at[0]]:
        raise NotImplementedError("assigning through several index tensors (or one after "
                                  "'...') is not supported by cltorch yet")
    at = tensor_at[0]
    item = items[at]
    item = item if isinstance(item, Tensor) else tensor(item, device=x._storage.device)
    if item.dtype is dtypes.bool_ or item.ndim != 1:
        raise NotImplementedError("assignment takes a 1-D index tensor here in cltorch")
    before = items[:at]
    dim = sum(1 for i in before if i is not None and not is_int_index(i))
    base = x[items[:at] + (slice(None),) + items[at + 1:]]
    shape = list(base._shape)
    shape[dim] = item.numel()
    if not isinstance(value, Tensor):
        value = zeros((), dtype=x.dtype, device=x._storage.device).fill_(value)
    index_copy_(base, dim, item, value.to(x._storage.device, x.dtype).expand(shape))


INDEXING = {f.__name__: f for f in (index_select, gather, take, masked_fill, nonzero,
                                     masked_select, scatter, scatter_add)}
for _name in INDEXING:
    setattr(Tensor, _name, INDEXING[_name])
for _fn in (masked_fill_, scatter_, scatter_add_, index_add_, index_copy_, index_fill_,
            index_put_, put_):
    setattr(Tensor, _fn.__name__, _fn)
