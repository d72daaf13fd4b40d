"""Views and rearranging: basic indexing (ints, slices, None, ``...``), joining and splitting
(cat/stack/split/chunk), flip/roll/rot90, repeat/tile, tril/triu/diag/diagonal/trace,
movedim/unfold/meshgrid/broadcast_tensors, diff and cross.

Where PyTorch returns a view, so does cltorch (split, chunk, diagonal, unfold, movedim...);
the rest are copies through the pointwise copy kernel of reversed, strided or expanded views.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..autograd.graph import needs_grad, record
from ..autograd.views import region_backward
from ..ops.array import check_same_device, cpu_view
from ..ops.layout import broadcast_shapes
from ..ops.search import searchsorted as search_rows
from ..tensor import Tensor, normalize_dim, sizes_from_args
from .creation import arange, empty, tensor, zeros
from .pointwise import FUNCTIONS


def cat(tensors, dim=0, *, out=None):
    """Concatenate along an existing ``dim`` (dtypes promoted, as in PyTorch)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    parts = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)] or tensors[:1]
    check_same_device(*tensors)
    ref = parts[0]
    d = normalize_dim(dim, ref.ndim)
    for i, t in enumerate(parts):
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} "
                               f"and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t._shape[k] != ref._shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. "
                                   f"Expected size {ref._shape[k]} but got size {t._shape[k]} "
                                   f"for tensor number {i} in the list.")
    dtype = parts[0].dtype
    for t in parts[1:]:
        dtype = dtypes.promote_types(dtype, t.dtype)
    shape = list(ref._shape)
    shape[d] = sum(t._shape[d] for t in parts)
    if out is not None and needs_grad(parts):
        raise RuntimeError("cat(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    result = empty(shape, dtype=dtype, device=ref._storage.device) if out is None else out
    start, bounds = 0, []
    for t in parts:
        bounds.append((start, t._shape[d]))
        start += t._shape[d]
    if result._storage.device.kind == "cpu" and out is None and \
            all(t.dtype is dtype for t in parts):  # host memory: one NumPy call, not a copy each
        np.concatenate([cpu_view(t) for t in parts], axis=d, out=cpu_view(result))
    else:
        with no_grad():
            for t, (a, n) in zip(parts, bounds):
                result.narrow(d, a, n).copy_(t)
    return record(result, "CatBackward0", parts,
                  lambda g: tuple(g.narrow(d, a, n) for a, n in bounds))


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    """Join equal-shaped tensors along a new ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if t._shape != tensors[0]._shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(tensors[0]._shape)} at entry 0 and {list(t._shape)} at "
                               f"entry {i}")
    d = normalize_dim(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d, out=out)


def hstack(tensors):
    tensors = [t if t.ndim else t.reshape(1) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def split(tensor, split_size_or_sections, dim=0):
    """Views of ``split_size`` along ``dim`` (the last may be smaller), or of given sizes."""
    d = normalize_dim(dim, tensor.ndim)
    size = tensor._shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {size}")
        sizes = [min(step, size - s) for s in range(0, size, step)] if size else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(tensor.narrow(d, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """Up to ``chunks`` views of equal size (the last may be smaller)."""
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    size = input._shape[normalize_dim(dim, input.ndim)]
    return split(input, max(1, -(-size // chunks)), dim)


def tensor_split(input, indices_or_sections, dim=0):
    """Views split at indices, or into ``n`` near-equal parts (the first ones one larger)."""
    d = normalize_dim(dim, input.ndim)
    size = input._shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        base, extra = divmod(size, n)
        return split(input, [base + (i < extra) for i in range(n)], d)
    bounds = [0] + [min(max(int(i), 0), size) for i in indices_or_sections] + [size]
    return tuple(input.narrow(d, a, max(0, b - a)) for a, b in zip(bounds, bounds[1:]))


def _reversed_view(x, dims):
    shape, strides, offset = x._shape, list(x._strides), x._offset
    for d in dims:
        if shape[d]:
            offset += (shape[d] - 1) * strides[d]
        strides[d] = -strides[d]
    return x._view(shape, strides, offset, backward=lambda g: _reversed_view(g, dims),
                   name="FlipBackward0")


def flip(input, dims):
    """Reverse the order along ``dims`` (a copy, as in PyTorch)."""
    dims = [normalize_dim(d, input.ndim) for d in (dims if isinstance(dims, (list, tuple))
                                                    else (dims,))]
    return _reversed_view(input, dims).clone()


def fliplr(input):
    return flip(input, [1])


def flipud(input):
    return flip(input, [0])


def roll(input, shifts, dims=None):
    """Shift elements along ``dims`` cyclically (the flattened tensor when dims is None)."""
    if dims is None:
        return roll(input.flatten(), shifts, 0).view(input.shape)
    shifts = shifts if isinstance(shifts, (list, tuple)) else (shifts,)
    dims = dims if isinstance(dims, (list, tuple)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                           f"{len(dims)}")
    out = input
    for shift, dim in zip(shifts, dims):
        d = normalize_dim(dim, input.ndim)
        size = out._shape[d]
        if size == 0:
            continue
        s = shift % size
        out = cat([out.narrow(d, size - s, s), out.narrow(d, 0, size - s)], d) if s else \
            out.clone()
    return out


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``."""
    d0, d1 = (normalize_dim(d, input.ndim) for d in dims)
    k %= 4
    if k == 1:
        return flip(input, [d1]).transpose(d0, d1)
    if k == 2:
        return flip(input, [d0, d1])
    if k == 3:
        return flip(input, [d0]).transpose(d0, d1)
    return input.clone()


def repeat(input, *sizes):
    """Tile ``input`` ``sizes`` times along each dim (a copy)."""
    sizes = sizes_from_args(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    x = input.reshape((1,) * (len(sizes) - input.ndim) + input._shape)
    interleaved = [s for dim in x._shape for s in (1, dim)]
    expanded = [s for r, dim in zip(sizes, x._shape) for s in (r, dim)]
    return x.reshape(interleaved).expand(expanded).reshape(
        [r * dim for r, dim in zip(sizes, x._shape)])


def tile(input, dims):
    dims = tuple(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element along ``dim`` (flattened when None) ``repeats`` times: an int, or a
    tensor with one count per element. ``repeat_interleave(counts)`` repeats 0, 1, 2, ...

    Tensor repeats read their total back (a host sync) unless ``output_size`` gives it.
    """
    if repeats is None:  # the one-argument form
        repeats, input = input, arange(input.numel(), device=input._storage.device)
    if isinstance(repeats, Tensor) and repeats.ndim == 0:
        repeats = repeats.item()
    x = input.flatten() if dim is None else input
    d = 0 if dim is None else normalize_dim(dim, x.ndim)
    shape = list(x._shape)
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("repeats can not be negative")
        expanded = x.unsqueeze(d + 1).expand(*shape[:d + 1], repeats, *shape[d + 1:])
        shape[d] *= repeats
        return expanded.reshape(shape)
    return x.index_select(d, _repeated_positions(repeats, shape[d], x._storage.device,
                                                  output_size))


def _repeated_positions(repeats, size, device, output_size):
    """0 repeated repeats[0] times, 1 repeated repeats[1] times, ..."""
    if repeats.ndim != 1 or repeats.dtype.category != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if repeats.numel() == 1:
        repeats = repeats.expand(size)
    if repeats.numel() != size:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {repeats.numel()} and input.size(0) = {size}")
    ends = repeats.to(device, dtypes.int64).cumsum(0)
    if output_size is None:
        if size and repeats.amin().item() < 0:
            raise RuntimeError("repeats can not be negative")
        output_size = ends[-1].item() if size else 0
    return search_rows(ends.reshape(1, -1), arange(output_size, device=device).reshape(1, -1),
                       True).reshape(-1)


def _band_mask(input, diagonal, lower):
    rows, cols = input._shape[-2:]
    device = input._storage.device
    offset = arange(rows, device=device).unsqueeze(1) - arange(cols, device=device)
    return offset >= -diagonal if lower else offset <= -diagonal


def _zero(input):
    """A 0-dim zero of ``input``'s dtype, so that ``where`` keeps that dtype (bool too)."""
    return zeros((), dtype=input.dtype, device=input._storage.device)


def tril(input, diagonal=0):
    """Lower triangle (on and below ``diagonal``); the rest zero."""
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return FUNCTIONS["where"](_band_mask(input, diagonal, True), input, _zero(input))


def triu(input, diagonal=0):
    """Upper triangle (on and above ``diagonal``); the rest zero."""
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return FUNCTIONS["where"](_band_mask(input, diagonal, False), input, _zero(input))


def diagonal(input, offset=0, dim1=0, dim2=1):
    """A view of the diagonal ``offset`` of the ``dim1``/``dim2`` planes, as the last dim."""
    d1, d2 = normalize_dim(dim1, input.ndim), normalize_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n1, n2 = input._shape[d1], input._shape[d2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    start = input._offset
    if length:
        start += offset * input._strides[d2] if offset >= 0 else -offset * input._strides[d1]
    keep = [d for d in range(input.ndim) if d not in (d1, d2)]
    return input._view([input._shape[d] for d in keep] + [length],
                       [input._strides[d] for d in keep] +
                       [input._strides[d1] + input._strides[d2]], start,
                       backward=lambda g: region_backward(
                           g, input._shape, lambda t: diagonal(t, offset, d1, d2)),
                       name="DiagonalBackward0")


def diag(input, diagonal=0):
    """1-D: a matrix with ``input`` on a diagonal. 2-D: that diagonal, copied."""
    if input.ndim == 1:
        n = input._shape[0] + abs(diagonal)
        out = zeros(n, n, dtype=input.dtype, device=input._storage.device)
        out.diagonal(diagonal).copy_(input)
        return out
    if input.ndim != 2:
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{input.ndim}D")
    return input.diagonal(diagonal).clone()


def trace(input):
    """Sum of the main diagonal of a matrix."""
    if input.ndim != 2:
        raise RuntimeError("trace: expected a matrix, but got tensor with dim " + str(input.ndim))
    return diagonal(input).sum()


def movedim(input, source, destination):
    """A view with ``source`` dims moved to ``destination``."""
    src = [normalize_dim(d, input.ndim) for d in (source if isinstance(source, (list, tuple))
                                                   else (source,))]
    dst = [normalize_dim(d, input.ndim) for d in (destination if isinstance(
        destination, (list, tuple)) else (destination,))]
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    rest = iter(d for d in range(input.ndim) if d not in src)
    placed = dict(zip(dst, src))
    return input.permute([placed[i] if i in placed else next(rest) for i in range(input.ndim)])


moveaxis = movedim


def unfold(self, dimension, size, step):
    """A view of all windows of ``size`` taken every ``step`` along ``dimension`` (last dim)."""
    d = normalize_dim(dimension, self.ndim)
    n = self._shape[d] if self.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    shape = list(self._shape)
    strides = list(self._strides)
    shape[d] = (n - size) // step + 1
    strides[d] *= step
    return self._view(shape + [size], strides + [self._strides[d] if self.ndim else 1],
                      backward=lambda g: region_backward(
                          g, self._shape, lambda t: unfold(t, dimension, size, step)),
                      name="UnfoldBackward0")


def broadcast_tensors(*tensors):
    """Views of ``tensors`` expanded to their common shape."""
    shape = broadcast_shapes(*(t._shape for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids (views) from 1-D tensors; ``indexing`` 'ij' or 'xy'."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    swap = indexing == "xy" and len(tensors) >= 2
    ordered = (tensors[1], tensors[0], *tensors[2:]) if swap else tensors
    shape = [t.numel() for t in ordered]
    grids = []
    for i, t in enumerate(ordered):
        view = [1] * len(ordered)
        view[i] = -1
        grids.append(t.reshape(view).expand(shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def as_strided(input, size, stride, storage_offset=None):
    """A view of ``input``'s storage with the given size, stride and offset (in elements).
    Its gradient sums the view's gradient back onto the storage positions it reads."""
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    offset = input._offset if storage_offset is None else int(storage_offset)
    if any(n < 0 for n in size) or any(n < 0 for n in stride) or offset < 0:
        raise RuntimeError("as_strided: Negative sizes, strides and offsets are not supported")
    last = offset + sum((n - 1) * st for n, st in zip(size, stride)) if all(size) else offset
    storage_numel = input._storage.nbytes // input.dtype.itemsize
    if all(size) and last >= storage_numel:
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage "
                           f"offset {offset} require a storage of {last + 1} elements, but "
                           f"it holds {storage_numel}")

    def backward(g):
        reads = _storage_positions(size, stride, offset, g.device)
        owned = _storage_positions(input._shape, input._strides, input._offset, g.device)
        flat = g.new_zeros(storage_numel).index_add(0, reads, g.reshape(-1))
        return flat.index_select(0, owned).reshape(input._shape)
    return input._view(size, stride, offset, backward, "AsStridedBackward0")


def _storage_positions(size, stride, offset, device):
    """The storage index of every element of a (size, stride, offset) view, row-major."""
    grids = np.indices(size, dtype=np.int64) if size else np.zeros((0,), np.int64)
    positions = offset + sum(g * st for g, st in zip(grids, stride)) if size else \
        np.array([offset])
    return tensor(np.asarray(positions).reshape(-1), dtype=dtypes.int64, device=device)


def unflatten(input, dim, sizes):
    """``dim`` split into ``sizes`` (one of them may be -1), as a view where possible."""
    d = normalize_dim(dim, input.ndim)
    sizes = tuple(int(n) for n in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = 1
    for n in sizes:
        known *= n if n != -1 else 1
    if sizes.count(-1) > 1 or (-1 not in sizes and known != input._shape[d]) or \
            (-1 in sizes and (known == 0 or input._shape[d] % known)):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({input._shape[d]}) in the input tensor")
    if -1 in sizes:
        sizes = tuple(input._shape[d] // known if n == -1 else n for n in sizes)
    return input.reshape(input._shape[:d] + sizes + input._shape[d + 1:])


def _inplace_view(name):
    """``unsqueeze_``, ``squeeze_``, ``t_``, ``transpose_``: this tensor takes the view's
    shape and strides (metadata only, as in PyTorch)."""
    def method(self, *args, **kwargs):
        if self.grad_fn is not None:
            raise RuntimeError(f"{name}_: cltorch changes the shape in place only for tensors "
                               f"that autograd does not track through an op (use {name})")
        view = getattr(self, name)(*args, **kwargs)
        self._shape, self._strides = view._shape, view._strides
        return self
    method.__name__ = name + "_"
    return method


# ---- basic indexing: ints, slices (with steps), None and ``...``, all giving views --------


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


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """``n``-th forward difference along ``dim`` (bool: ``!=``), after prepending/appending."""
    d = normalize_dim(dim, input.ndim)
    x = cat([t for t in (prepend, input, append) if t is not None], d) \
        if prepend is not None or append is not None else input
    for _ in range(n):
        size = x._shape[d]
        after, before = x.narrow(d, 1, max(size - 1, 0)), x.narrow(d, 0, max(size - 1, 0))
        x = after != before if x.dtype is dtypes.bool_ else after - before
    return x


def cross(input, other, dim=None):
    """Cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    if dim is None:
        dim = next((d for d, s in enumerate(input._shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = normalize_dim(dim, input.ndim)
    if input._shape[d] != 3 or other._shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input._shape[d]} and {other._shape[d]}")
    a = [input.select(d, i) for i in range(3)]
    b = [other.select(d, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                  a[0] * b[1] - a[1] * b[0]], d)


JOINING = {f.__name__: f for f in (
    cat, stack, hstack, vstack, split, chunk, tensor_split, flip, fliplr, flipud, roll, rot90,
    tile, repeat_interleave, tril, triu, diagonal, diag, trace, movedim, broadcast_tensors,
    meshgrid, as_strided, unflatten, diff, cross)}
JOINING.update(concat=cat, concatenate=cat, moveaxis=movedim)
NAMESPACE = JOINING
METHODS = {name: JOINING[name] for name in (
    "split", "chunk", "tensor_split", "flip", "fliplr", "flipud", "roll", "rot90", "tile",
    "repeat_interleave", "tril", "triu", "diagonal", "diag", "trace", "movedim", "moveaxis",
    "as_strided", "unflatten", "diff", "cross")}
METHODS.update((name + "_", _inplace_view(name)) for name in (
    "unsqueeze", "squeeze", "t", "transpose", "swapdims", "swapaxes"))
METHODS.update(repeat=repeat, unfold=unfold)
