"""Writes through an index tensor (scatter, scatter_add, index_add_, index_put_...): the
``scatter.mako`` kernel, or NumPy fancy assignment / ``np.add.at`` on the cpu."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen import DIALECTS, render
from .launch import INT32_LIMIT, cached_kernel, index_types
from .array import Array, cpu_view
from .gather import check_range

# dtypes each backend can add atomically ("set" copies bits and takes any dtype)
ATOMIC_ADD = {"cpu": {"float16", "float32", "float64", "int8", "uint8", "int16", "int32",
                      "int64"},
              "opencl": {"float32", "int32"},
              "cuda": {"float32", "int32", "float64", "int64"}}


def scatter(out: Array, dim: int, index: Array, src, mode: str) -> None:
    """For every element c of ``index``: out[c, c[dim] = index[c]] = (or +=) src[c].

    ``src`` is an Array at least as large as ``index`` in every dim, or a Python number.
    """
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"scatter(): Expected dtype int64 for index, got {index.dtype!r}")
    device = out._device
    if mode == "add" and out.dtype.name not in ATOMIC_ADD[device.kind]:
        raise NotImplementedError(f"adding through an index into a {out.dtype.name} tensor "
                                  f"is not supported on {device.name} (no atomic add)")
    if index._numel() == 0:
        return
    check_range(index, out._shape[dim], dim)
    if device.kind == "cpu":
        _scatter_numpy(out, dim, index, src, mode)
    else:
        _launch(out, dim, index, src, mode)


def _scatter_numpy(out, dim, index, src, mode):
    size = out._shape[dim]
    coords = list(np.indices(index._shape, sparse=True))
    coords[dim] = cpu_view(index) % size
    if isinstance(src, Array):
        part = tuple(slice(0, s) for s in index._shape)
        values = cpu_view(src)[part]
    else:
        values = out.dtype.from_numpy_values(np.asarray(src))
    target = cpu_view(out)
    if mode == "set":
        target[tuple(coords)] = values
    else:
        with np.errstate(all="ignore"):
            np.add.at(target, tuple(coords), values)


def _launch(out, dim, index, src, mode):
    device = out._device
    ndim = len(index._shape)
    scalar = not isinstance(src, Array)
    arrays = [out, index] + ([] if scalar else [src])
    big = any(a._storage.nbytes > INT32_LIMIT for a in arrays) or index._numel() > 2 ** 30
    key = ("scatter", out.dtype, ndim, dim, mode, scalar, big)
    idx, cidx = index_types(big)
    value = (_value_type(out.dtype, mode),) if scalar else (None, idx)
    kernel = cached_kernel(device, key, lambda: (
        scatter_source(DIALECTS[device.kind], out.dtype, ndim, dim, mode, scalar, cidx),
        "scatter", (None, idx) + value + (None, idx, idx, idx) + (idx,) * (4 * ndim)))
    sstrides = (0,) * ndim if scalar else src._strides
    layout = [v for d in range(ndim) for v in (index._shape[d], out._strides[d], sstrides[d],
                                                index._strides[d])]
    head = [out._storage.buffer, out._offset]
    head += [_scalar_value(src, out.dtype, mode)] if scalar else [src._storage.buffer,
                                                                   src._offset]
    n = index._numel()
    device.launch(kernel, n, head + [index._storage.buffer, index._offset, n,
                                     out._shape[dim]] + layout)


def _value_type(dtype, mode):
    if mode == "set":
        return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.int64}[dtype.itemsize]
    return dtype.storage_np.type


def _scalar_value(value, dtype, mode):
    stored = dtype.from_numpy_values(np.asarray(value))
    return stored.view(_value_type(dtype, mode)).item() if mode == "set" else stored.item()


def scatter_source(dialect, dtype, ndim, dim, mode, scalar, index) -> str:
    """Source of the scatter kernel for one dialect (the template tests use it)."""
    return render("scatter.mako", dialect, name="scatter", dtype=dtype, ndim=ndim, dim=dim,
                  mode=mode, scalar=scalar, index=index)

