"""Reads through an index tensor: ``gather`` (and ``index_select`` as a gather with the index
broadcast along the other dims). The values move as stored bits: any dtype, no conversion."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen import DIALECTS, render
from .launch import INT32_LIMIT, cached_kernel, index_types
from .array import Array, check_same_device, cpu_view, empty
from .check import check_values
from .layout import broadcast_strides



BOUNDS = "index {value} is out of bounds for dimension {dim} with size {size}"


def gather(src: Array, dim: int, index: Array, out_shape, error=RuntimeError,
           message=BOUNDS, checked=False) -> Array:
    """out[c] = src[c with c[dim] = index[c]]; ``index`` broadcasts to ``out_shape``.

    Raises ``error`` (PyTorch's words) for an index out of range, on an accelerator at the
    next synchronisation (``check_range``). ``checked``: the index is in range by
    construction (an op's own argmax), so no check is launched.
    """
    check_same_device(src, index)
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got "
                           f"{index.dtype!r}")
    out = empty(type(src), out_shape, src.dtype, src._device)
    if out._numel() == 0:
        return out
    size = src._shape[dim]
    if not checked:
        check_range(index, size, dim, error, message=message)
    if src._device.kind == "cpu":
        part = tuple(slice(None) if d == dim else slice(0, out_shape[d])
                     for d in range(len(out_shape)))
        if all(s == 1 for d, s in enumerate(index._shape) if d != dim):
            # one index per slice (index_select, embedding): whole slices copied by np.take
            positions = cpu_view(index).reshape(-1) % max(size, 1)
            np.take(cpu_view(src)[part], positions, axis=dim, out=cpu_view(out))
            return out
        idx = np.broadcast_to(cpu_view(index), out_shape) % max(size, 1)
        cpu_view(out)[...] = np.take_along_axis(cpu_view(src)[part], idx, dim)
        return out
    _launch(src, dim, index, out)
    return out


def check_range(index, size, dim, error=RuntimeError, negative=False, message=BOUNDS):
    """Raise ``error(message)`` unless every index is in [0, size) ([-size, size) with
    ``negative``). PyTorch's ops differ in the type and words (gather/scatter/index_add_:
    RuntimeError; index_select/embedding: IndexError "index out of range in self";
    subscripts, index_fill_, index_copy_: IndexError), so each caller says which. No host
    synchronisation: on an accelerator the failure is raised at the next one (ops/check.py),
    and the kernels that read through the index never touch memory outside their operands."""
    check_values(index, -size if negative else 0, size - 1, error,
                 message.format(value="{value}", dim=dim, size=size))


def _launch(src, dim, index, out):
    device = src._device
    ndim = len(out._shape)
    big = max(src._storage.nbytes, index._storage.nbytes) > INT32_LIMIT or \
        out._numel() > INT32_LIMIT // 2
    key = ("gather", src.dtype, ndim, dim, big)
    idx, cidx = index_types(big)
    kernel = cached_kernel(device, key, lambda: (
        gather_source(DIALECTS[device.kind], src.dtype, ndim, dim, cidx), "gather",
        (None, None, idx, None, idx, idx, idx) + (idx,) * (3 * ndim)))
    istrides = broadcast_strides(index._shape, index._strides, out._shape)
    sstrides = src._strides
    layout = [v for d in range(ndim) for v in (out._shape[d], sstrides[d], istrides[d])]
    n = out._numel()
    device.launch(kernel, n, [out._storage.buffer, src._storage.buffer, src._offset,
                              index._storage.buffer, index._offset, n, src._shape[dim]] + layout)


def gather_source(dialect, src, ndim, dim, index) -> str:
    """Source of the gather kernel for one dialect (the template tests use it)."""
    return render("gather.mako", dialect, name="gather", src=src, ndim=ndim, dim=dim,
                  index=index)
