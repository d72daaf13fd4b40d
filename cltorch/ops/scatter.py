"""Writes through an index tensor (scatter, scatter_add, index_add_, index_put_...): the
``scatter.mako`` kernel, or NumPy fancy assignment / ``np.add.at`` on the cpu."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..codegen import DIALECTS, render
from .launch import INT32_LIMIT, cached_kernel, index_types
from .array import Array, check_no_internal_overlap, check_same_device, cpu_view
from .gather import check_range

# dtypes each accelerator backend adds atomically; other adds, and every other combining
# mode, take the serial per-line kernel (scatter.mako)
ATOMIC_ADD = {"opencl": {"float32", "int32"},
              "cuda": {"float32", "int32", "float64", "int64"}}
NUMPY_AT = {"add": np.add, "multiply": np.multiply, "amax": np.maximum, "amin": np.minimum}
MODES = ("set",) + tuple(NUMPY_AT)


def scatter(out: Array, dim: int, index: Array, src, mode: str, checked=False) -> None:
    """For every element c of ``index``: out[c, c[dim] = index[c]] = src[c] (mode "set"), or
    combined into it by "add", "multiply", "amax" or "amin".

    ``src`` is an Array at least as large as ``index`` in every dim, or a Python number.
    ``checked``: the caller has already range-checked ``index`` (no second host read).
    """
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"scatter(): Expected dtype int64 for index, got {index.dtype!r}")
    check_no_internal_overlap(out)
    check_same_device(out, index, *([src] if isinstance(src, Array) else []))
    out._storage.version += 1
    if index._numel() == 0:
        return
    if not checked:
        check_range(index, out._shape[dim], dim)
    if out._device.kind == "cpu":
        _scatter_numpy(out, dim, index, src, mode)
    else:
        _launch(out, dim, index, src, mode)


def _scatter_numpy(out, dim, index, src, mode):
    coords = list(np.indices(index._shape, sparse=True))
    coords[dim] = cpu_view(index)  # in [0, size): checked before (a NumPy modulo costs more)
    if isinstance(src, Array):
        part = tuple(slice(0, s) for s in index._shape)
        values = cpu_view(src)[part]
    else:
        values = out.dtype.from_numpy_values(np.asarray(src))
    target = cpu_view(out)
    if mode == "set":
        target[tuple(coords)] = values
    elif out.dtype is dtypes.bfloat16:  # stored as bits: combine the values, then store
        combined = out.dtype.to_numpy_values(target)
        with np.errstate(all="ignore"):
            NUMPY_AT[mode].at(combined, tuple(coords), out.dtype.to_numpy_values(values))
        target[...] = out.dtype.from_numpy_values(combined)
    else:
        with np.errstate(all="ignore"):
            NUMPY_AT[mode].at(target, tuple(coords), values)


def _launch(out, dim, index, src, mode):
    device = out._device
    ndim = len(index._shape)
    scalar = not isinstance(src, Array)
    serial = mode != "set" and not (mode == "add" and out.dtype.name in ATOMIC_ADD[device.kind])
    arrays = [out, index] + ([] if scalar else [src])
    big = any(a._storage.nbytes > INT32_LIMIT for a in arrays) or index._numel() > 2 ** 30
    key = ("scatter", out.dtype, ndim, dim, mode, scalar, serial, big)
    idx, cidx = index_types(big)
    value = (_value_type(out.dtype, mode),) if scalar else (None, idx)
    kernel = cached_kernel(device, key, lambda: (
        scatter_source(DIALECTS[device.kind], out.dtype, ndim, dim, mode, scalar, cidx, serial),
        "scatter", (None, idx) + value + (None, idx, idx, idx) + (idx,) * (4 * ndim)))
    sstrides = (0,) * ndim if scalar else src._strides
    layout = [v for d in range(ndim) for v in (index._shape[d], out._strides[d], sstrides[d],
                                                index._strides[d])]
    head = [out._storage.buffer, out._offset]
    head += [_scalar_value(src, out.dtype, mode)] if scalar else [src._storage.buffer,
                                                                   src._offset]
    n = index._numel() // (index._shape[dim] if serial else 1)
    device.launch(kernel, n, head + [index._storage.buffer, index._offset, n,
                                     out._shape[dim]] + layout)


def _value_type(dtype, mode):
    if mode == "set":
        return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.int64}[dtype.itemsize]
    return dtype.compute.storage_np.type


def _scalar_value(value, dtype, mode):
    stored = dtype.from_numpy_values(np.asarray(value))
    if mode == "set":
        return stored.view(_value_type(dtype, mode)).item()
    return _value_type(dtype, mode)(dtype.to_numpy_values(stored).item())


def scatter_source(dialect, dtype, ndim, dim, mode, scalar, index, serial=False) -> str:
    """Source of the scatter kernel for one dialect (the template tests use it)."""
    return render("scatter.mako", dialect, name="scatter", dtype=dtype, ndim=ndim, dim=dim,
                  mode=mode, scalar=scalar, index=index, serial=serial)

