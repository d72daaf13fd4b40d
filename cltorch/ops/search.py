"""Binary search in sorted rows (searchsorted): the ``search.mako`` kernel or NumPy's."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen import DIALECTS, render
from .launch import cached_kernel
from .array import Array, cpu_view, empty


def searchsorted(rows: Array, values: Array, right: bool) -> Array:
    """Insertion points of each row of the contiguous ``values`` (R, K) in the matching row of
    ``rows`` (R, L) (or its single row when R differs and ``rows`` has one)."""
    compute = dtypes.promote_types(rows.dtype, values.dtype).compute
    out = empty(type(values), values._shape, dtypes.int64, values._device)
    if values._numel() == 0:
        return out
    if values._device.kind == "cpu":
        seq = rows.dtype.to_numpy_values(cpu_view(rows)).astype(compute.numpy)
        vals = values.dtype.to_numpy_values(cpu_view(values)).astype(compute.numpy)
        side = "right" if right else "left"
        result = [np.searchsorted(seq[r if seq.shape[0] > 1 else 0], vals[r], side=side)
                  for r in range(vals.shape[0])]
        cpu_view(out)[...] = np.array(result).reshape(values._shape)
        return out
    device = values._device
    key = ("search", rows.dtype, values.dtype, compute, right)
    kernel = cached_kernel(device, key, lambda: (
        search_source(DIALECTS[device.kind], rows.dtype, values.dtype, compute, right),
        "searchsorted", (None, None) + (np.int64,) * 4 + (None,) + (np.int64,) * 3))
    n = values._numel()
    row_stride = rows._strides[0] if rows._shape[0] > 1 else 0
    device.launch(kernel, n, [out._storage.buffer, rows._storage.buffer, rows._offset,
                              row_stride, rows._strides[1], rows._shape[1],
                              values._storage.buffer, values._offset, n, values._shape[1]])
    return out


def search_source(dialect, src, vals, compute, right) -> str:
    """Source of the searchsorted kernel for one dialect (the template tests use it)."""
    return render("search.mako", dialect, name="searchsorted", src=src, vals=vals,
                  compute=compute, right=right)
