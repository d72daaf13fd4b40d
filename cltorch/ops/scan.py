"""Inclusive scans along one dim (cumsum, cumprod, cummax, cummin, logcumsumexp): the
``scan.mako`` kernel, or NumPy's accumulate on the cpu."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dtypes
from ..codegen import DIALECTS, render
from .launch import INT32_LIMIT, cached_kernel, index_types
from .array import Array, check_dtype_supported, cpu_view, empty
from .layout import collapse



def _np_arg_scan(extreme):
    def scan(v, axis):
        acc = extreme.accumulate(v, axis=axis)
        positions = np.arange(v.shape[axis]).reshape([-1 if d == axis else 1
                                                      for d in range(v.ndim)])
        nan_v = np.isnan(v) if v.dtype.kind == "f" else np.zeros(v.shape, bool)
        nan_acc = np.isnan(acc) if v.dtype.kind == "f" else np.zeros(v.shape, bool)
        hit = nan_v | (~nan_acc & (v == acc))
        return acc, np.maximum.accumulate(np.where(hit, positions, 0), axis=axis)
    return scan


@dataclass(frozen=True, eq=False)
class Scan:
    name: str
    combine: str
    numpy: object
    arg: str = ""
    result: str = "sum"  # sum (ints -> int64) | same | float


SCANS = {s.name: s for s in (
    Scan("cumsum", "a + b", lambda v, axis: np.cumsum(v, axis=axis)),
    Scan("cumprod", "a * b", lambda v, axis: np.cumprod(v, axis=axis)),
    Scan("cummax", "", _np_arg_scan(np.maximum), "max", "same"),
    Scan("cummin", "", _np_arg_scan(np.minimum), "min", "same"),
    Scan("logcumsumexp", "(a == -INFINITY) ? b : ((b == -INFINITY) ? a : "
         "ct_max(a, b) + log1p(exp(-fabs(a - b))))",
         lambda v, axis: np.logaddexp.accumulate(v, axis=axis), result="float"),
)}


def scan(name: str, x: Array, dim: int, dtype=None):
    """The ``name`` scan of ``x`` along ``dim`` (already normalised); (values, indices) for
    cummax/cummin."""
    op = SCANS[name]
    result = dtype or (dtypes.int64 if op.result == "sum" and x.dtype.category < 2 else x.dtype)
    if op.result == "float" and result.category < 2:
        raise NotImplementedError(f'"{name}" not implemented for \'{result.legacy_name}\'')
    compute = result.compute if not op.arg else x.dtype.compute
    check_dtype_supported(x._device, compute)
    values = empty(type(x), x._shape, result, x._device)
    index = empty(type(x), x._shape, dtypes.int64, x._device) if op.arg else None
    if x._numel():
        if x._device.kind == "cpu":
            v = x.dtype.to_numpy_values(cpu_view(x)).astype(compute.numpy, copy=False)
            with np.errstate(all="ignore"):
                r = op.numpy(v, dim)
            if op.arg:
                r, positions = r
                cpu_view(index)[...] = positions
            cpu_view(values)[...] = values.dtype.from_numpy_values(np.asarray(r))
        else:
            _launch(op, x, dim, compute, values, index)
    return (values, index) if op.arg else values


def _launch(op, x, dim, compute, values, index):
    device = x._device
    kept = [d for d in range(len(x._shape)) if d != dim]
    sizes, (in_strides, out_strides) = collapse(
        tuple(x._shape[d] for d in kept),
        [tuple(x._strides[d] for d in kept), tuple(values._strides[d] for d in kept)])
    m, n = x._numel() // x._shape[dim], x._shape[dim]
    layout = [v for triple in zip(sizes, in_strides, out_strides) for v in triple]
    outs = [values._storage.buffer] + ([index._storage.buffer] if op.arg else [])
    tail = [x._storage.buffer, x._offset, m, n, x._strides[dim], values._strides[dim]] + layout
    chunks = _chunks(m, n, device)
    if chunks == 1:
        device.launch(_kernel(op, x, compute, values, len(sizes), "line"), m, outs + tail)
        return
    # a few long lines: chunk totals, a scan of the totals, then each chunk again from its carry
    length = -(-n // chunks)
    chunks = -(-n // length)
    totals = empty(type(x), (m, chunks), compute, device)
    totals_index = empty(type(x), (m, chunks), dtypes.int64, device)
    device.launch(_kernel(op, x, compute, values, len(sizes), "total"), m * chunks,
                  outs + [totals._storage.buffer, totals_index._storage.buffer, chunks, length] +
                  tail)
    carry = scan(op.name, totals, 1, dtype=None if op.arg else compute)
    carry_index = totals_index
    if op.arg:  # the running extreme's chunk -> that chunk's element index
        from .gather import gather
        carry, chunk = carry
        carry_index = gather(totals_index, 1, chunk, chunk._shape)
    device.launch(_kernel(op, x, compute, values, len(sizes), "rescan"), m * chunks,
                  outs + [carry._storage.buffer, carry_index._storage.buffer, chunks, length] +
                  tail)


def _chunks(m, n, device) -> int:
    """Chunks per line: enough work-items to fill the device when lines are few and long."""
    target = device.compute_units * (4 if device.cpu_like else 256)
    if m >= target or n < 4096:
        return 1
    return max(1, min(-(-target // m), n // 1024))


def _kernel(op, x, compute, values, kept_ndim, phase):
    device = x._device
    big = x._storage.nbytes > INT32_LIMIT or values._storage.nbytes > INT32_LIMIT
    key = ("scan", op, x.dtype, compute, values.dtype, kept_ndim, phase, big)
    idx, cidx = index_types(big)
    chunked = (None, None, idx, idx) if phase != "line" else ()
    return cached_kernel(device, key, lambda: (
        scan_source(op, DIALECTS[device.kind], x.dtype, compute, values.dtype, kept_ndim, cidx,
                    phase), f"scan_{op.name}",
        (None,) * (2 if op.arg else 1) + chunked + (None, idx, idx, idx, idx, idx) +
        (idx,) * (3 * kept_ndim)))


def scan_source(op, dialect, src, compute, out, kept_ndim, index, phase="line") -> str:
    """Source of the ``op`` scan kernel for one dialect (the template tests use it)."""
    return render("scan.mako", dialect, name=f"scan_{op.name}", src=src, compute=compute,
                  out=out, arg=op.arg, combine=op.combine, kept_ndim=kept_ndim, index=index,
                  phase=phase)
