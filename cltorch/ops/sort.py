"""Sorting along the last dim of an (M, L) array: a bitonic network (``sort.mako``) on GPU
devices, NumPy's stable sort on the cpu. Both give the stable order, NaN as the largest."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen import DIALECTS, render
from .launch import cached_kernel
from .array import Array, cpu_view, empty
from .pointwise import apply


def sort_rows(x: Array, descending: bool) -> tuple:
    """(sorted values, int64 source indices) of each row of the contiguous 2-D ``x``."""
    m, n = x._shape
    compute = x.dtype.compute
    if x._device.kind == "cpu":
        values = x.dtype.to_numpy_values(cpu_view(x)).astype(compute.numpy, copy=False)
        order = _numpy_order(values, descending)
        index = empty(type(x), (m, n), dtypes.int64, x._device)
        cpu_view(index)[...] = order
        out = empty(type(x), (m, n), x.dtype, x._device)
        cpu_view(out)[...] = np.take_along_axis(cpu_view(x), order, 1)
        return out, index
    p = 1 << max(0, (n - 1).bit_length())
    keys = empty(type(x), (m, p), compute, x._device)
    apply("copy", [x], out=_columns(keys, m, 0, n, p), inplace=True)
    if p > n:  # the padding sorts last by its index alone, but is swapped about: defined bits
        apply("copy", [0], out=_columns(keys, m, n, p, p), inplace=True)
    index = empty(type(x), (m, p), dtypes.int64, x._device)
    apply("copy", [_positions(x, p)], out=index, inplace=True)
    _network(keys, index, m, p, n, descending)
    values = apply("copy", [_columns(keys, m, 0, n, p)], out_dtype=x.dtype)
    return values, apply("copy", [_columns(index, m, 0, n, p)], out_dtype=dtypes.int64)


def _columns(padded, m, start, stop, p):
    """Columns ``start:stop`` of an (m, p) array, as a view."""
    return type(padded)._make(padded._storage, (m, stop - start), (p, 1), start, padded.dtype)


def _positions(x, p):
    """0..p-1 as a (1, p) int64 row on x's device (broadcast over the rows)."""
    from .array import from_numpy_values
    return from_numpy_values(type(x), np.arange(p, dtype=np.int64).reshape(1, p), dtypes.int64,
                             x._device)


def _network(keys, index, m, p, n, descending):
    device = keys._device
    key = ("sort", keys.dtype, descending)
    kernel = cached_kernel(device, key, lambda: (
        sort_source(DIALECTS[device.kind], keys.dtype, descending), "bitonic_step",
        (None, None) + (np.int64,) * 5))
    total = m * p
    k = 2
    while k <= p:
        j = k // 2
        while j:
            device.launch(kernel, total, [keys._storage.buffer, index._storage.buffer, total, p,
                                          n, j, k])
            j //= 2
        k *= 2


def _numpy_order(values, descending):
    positions = np.broadcast_to(np.arange(values.shape[1]), values.shape)
    nan = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.shape, bool)
    if descending:
        ordered = -values if values.dtype.kind == "f" else ~values
        keys = (positions, np.where(nan, 0, ordered), ~nan)
    else:
        keys = (positions, np.where(nan, 0, values), nan)
    return np.lexsort(keys, axis=-1)


def sort_source(dialect, compute, descending) -> str:
    """Source of one bitonic pass for one dialect (the template tests use it)."""
    return render("sort.mako", dialect, name="bitonic_step", compute=compute,
                  descending=descending)
