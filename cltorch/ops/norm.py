"""Layer normalisation over the rows of a contiguous (m, n) view, fused: one kernel forward
(``layer_norm.mako``: the normalised rows, each row's mean and 1/std), one for the input
gradient (and g * xhat, whose column sums are the weight's gradient); NumPy on the cpu.

A composed layer norm launches about eight kernels forward and twenty backward (13-16x
PyTorch's time on an H200, measured): this is three launches forward and backward."""
from __future__ import annotations

import numpy as np

from ..codegen import DIALECTS, render
from ..codegen.vectors import VECTOR_BYTES
from .array import Array, check_dtype_supported, cpu_view, empty, store_values
from .launch import INT32_LIMIT, fitted_kernel, index_types

_LOCAL = 256


def layer_norm(x: Array, weight, bias, n: int, eps: float):
    """(out, mean, rstd) of contiguous ``x`` normalised over rows of ``n`` elements;
    ``weight`` and ``bias`` are (n,) contiguous arrays of x's dtype, or None."""
    compute = x.dtype.compute
    check_dtype_supported(x._device, compute)
    m = x._numel() // n if n else 0
    out = empty(type(x), x._shape, x.dtype, x._device)
    mean, rstd = (empty(type(x), (m,), compute, x._device) for _ in range(2))
    if not x._numel():
        return out, mean, rstd
    if x._device.kind == "cpu":
        v = _rows(x, n, compute)
        mu = v.mean(axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            rs = 1 / np.sqrt(((v - mu) ** 2).mean(axis=1, keepdims=True) + eps)
        r = (v - mu) * rs
        if weight is not None:
            r = r * _rows(weight, n, compute)
        if bias is not None:
            r = r + _rows(bias, n, compute)
        store_values(out, r.reshape(x._shape))
        store_values(mean, mu.reshape(m))
        store_values(rstd, rs.reshape(m))
        return out, mean, rstd
    _launch(False, x, weight, bias, n, compute, [out, mean, rstd], eps)
    return out, mean, rstd


def layer_norm_backward(g: Array, x: Array, mean: Array, rstd: Array, weight, n: int,
                        want_gx: bool):
    """(dx, g * xhat or None) from the output gradient ``g`` (contiguous, x's shape)."""
    compute = x.dtype.compute
    dx = empty(type(x), x._shape, x.dtype, x._device)
    gx = empty(type(x), x._shape, compute, x._device) if want_gx else None
    if not x._numel():
        return dx, gx
    if x._device.kind == "cpu":
        vg, vx = _rows(g, n, compute), _rows(x, n, compute)
        mu, rs = (cpu_view(a).reshape(-1, 1) for a in (mean, rstd))
        xh = (vx - mu) * rs
        dy = vg * _rows(weight, n, compute) if weight is not None else vg
        r = rs * (dy - dy.mean(axis=1, keepdims=True) -
                  xh * (dy * xh).mean(axis=1, keepdims=True))
        store_values(dx, r.reshape(x._shape))
        if gx is not None:
            store_values(gx, (vg * xh).reshape(x._shape))
        return dx, gx
    _launch(True, x, weight, None, n, compute, [dx, gx if gx is not None else dx, g, mean, rstd],
            0.0, want_gx)
    return dx, gx


def _rows(a: Array, n: int, compute) -> np.ndarray:
    return a.dtype.to_numpy_values(cpu_view(a)).astype(compute.numpy).reshape(-1, n)


def _launch(backward, x, weight, bias, n, compute, outs, eps, want_gx=False):
    device = x._device
    m = x._numel() // n
    # a CPU device (PoCL) runs a group's items in a loop: one item per row, no barriers
    group = 1 if device.cpu_like else min(_LOCAL, device.local_size,
                                          1 << max(0, (n - 1).bit_length()))
    big = max(a._storage.nbytes for a in outs[:1] + [x]) > INT32_LIMIT
    # a CPU device sweeps rows of the compute type in vectors (one item a row, no barriers)
    width = VECTOR_BYTES // compute.itemsize if device.cpu_like and x.dtype == compute else 0
    key = ("layer_norm", backward, x.dtype, weight is not None, bias is not None, big, width)
    idx, cidx = index_types(big)
    kernel, group = fitted_kernel(device, key, group, lambda fit: (
        layer_norm_source(DIALECTS[device.kind], x.dtype, compute, backward,
                          weight is not None, bias is not None, fit, cidx, width), "layer_norm",
        (None,) * 3 + (None, idx) + ((None, None) if backward else ())
        + (None, None, idx, idx, compute.numpy, np.int32)))
    # absent operands: x's buffer stands in (never read: the kernel is built without them)
    stand_in = x._storage.buffer
    w = weight._storage.buffer if weight is not None else stand_in
    b = bias._storage.buffer if bias is not None else stand_in
    if backward:
        dx, gx, g, mean, rstd = outs
        args = [dx._storage.buffer, gx._storage.buffer, g._storage.buffer, x._storage.buffer,
                x._offset, mean._storage.buffer, rstd._storage.buffer]
    else:
        out, mean, rstd = outs
        args = [out._storage.buffer, mean._storage.buffer, rstd._storage.buffer,
                x._storage.buffer, x._offset]
    device.launch(kernel, m * group, args + [w, b, m, n, eps, int(want_gx)],
                  local=group if group > 1 else None)


def layer_norm_source(dialect, dtype, compute, backward, weight, bias, group_size,
                      index, width=0) -> str:
    """Source of the layer-norm kernel for one dialect (the template tests use it); ``width``
    > 0: the CPU variant (group_size 1, ``dtype`` the compute type) in vectors of ``width``."""
    return render("layer_norm.mako", dialect, name="layer_norm", src=dtype, compute=compute,
                  backward=backward, weight=weight, bias=bias, group_size=group_size,
                  index=index, width=width)
