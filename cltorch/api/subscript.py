"""Basic indexing: ints, slices (with steps), None and ``...``, all giving views."""
from __future__ import annotations

import numpy as np

from ..autograd.views import region_backward


def is_basic(index) -> bool:
    """True when every item is an int, slice, None or ``...`` (a view can express it)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(item is None or item is Ellipsis or isinstance(item, slice) or is_int_index(item)
               for item in items)


def basic_view(tensor, index):
    """``tensor[index]`` for basic indices; a view on the same storage."""
    items = _expand_ellipsis(tensor, index if isinstance(index, tuple) else (index,))
    shape, strides, offset, dim = [], [], tensor._offset, 0
    for item in items:
        if item is None:
            shape.append(1)
            strides.append(tensor._strides[dim] * tensor._shape[dim] if dim < tensor.ndim else 1)
            continue
        size, stride = tensor._shape[dim], tensor._strides[dim]
        if isinstance(item, slice):
            start, stop, step = _slice_bounds(item, size)
            shape.append(max(0, -(-(stop - start) // step)))
            strides.append(stride * step)
            offset += start * stride
        else:
            offset += _int_index(item, size, dim) * stride
        dim += 1
    shape += tensor._shape[dim:]
    strides += tensor._strides[dim:]
    return tensor._view(shape, strides, offset, name="SliceBackward0", backward=lambda g: (
        region_backward(g, tensor._shape, lambda t: basic_view(t, index))))


def _expand_ellipsis(tensor, items):
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, slice) or is_int_index(item)):
            raise IndexError("only integers, slices (`:`), ellipsis (`...`) and None are valid "
                             "indices for now: indexing with tensors, lists or masks comes with "
                             "the indexing ops (gather, index_select, masked_select)")
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in items)
    if used > tensor.ndim:
        raise IndexError(f"too many indices for tensor of dimension {tensor.ndim}")
    if Ellipsis in items:
        at = next(i for i, item in enumerate(items) if item is Ellipsis)
        items = items[:at] + (slice(None),) * (tensor.ndim - used) + items[at + 1:]
    return items


def is_int_index(item) -> bool:
    if isinstance(item, (bool, np.bool_)):
        return False
    if isinstance(item, (int, np.integer)):
        return True
    return getattr(item, "ndim", None) == 0 and not item.dtype.is_floating_point \
        and item.dtype.name != "bool"


def _int_index(item, size, dim) -> int:
    i = int(item)
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
    return i % size


def _slice_bounds(item, size):
    if item.step is not None and int(item.step) <= 0:
        raise ValueError("step must be greater than zero")
    return item.indices(size)
