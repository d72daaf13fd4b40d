"""Sliding windows over (N, C, H, W) images: ``unfold`` (image -> columns) and ``fold``
(columns -> image, summing overlaps), the core that convolution and pooling build on. The
``im2col.mako`` kernels, or NumPy on the cpu."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..codegen import DIALECTS, render
from .array import Array, check_dtype_supported, cpu_view, empty
from .launch import INT32_LIMIT, cached_kernel, index_types


@dataclass(frozen=True)
class Windows:
    """Window geometry: kernel, stride, padding, dilation (each (h, w)) and the output grid."""
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple

    def args(self, n, c, h, w):
        return [n, c, h, w, *self.kernel, *self.stride, *self.padding, *self.dilation,
                *self.out]


def unfold(x: Array, win: Windows, pad_value=0.0) -> Array:
    """x (N, C, H, W) -> (N, C*KH*KW, OH*OW); outside the image reads ``pad_value``."""
    n, c, h, w = x._shape
    kh, kw = win.kernel
    out = empty(type(x), (n, c * kh * kw, win.out[0] * win.out[1]), x.dtype, x._device)
    if out._numel() == 0:
        return out
    check_dtype_supported(x._device, x.dtype)
    if x._device.kind == "cpu":
        cpu_view(out)[...] = _unfold_numpy(x, win, pad_value).reshape(out._shape)
        return out
    kernel = _kernel(x, "unfold", out)
    device = x._device
    device.launch(kernel, out._numel(), [out._storage.buffer, x._storage.buffer, x._offset,
                                         *x._strides, pad_value, *win.args(n, c, h, w)])
    return out


def fold(cols: Array, size: tuple, win: Windows) -> Array:
    """cols (N, C*KH*KW, OH*OW), contiguous -> (N, C, H, W): each pixel sums its windows."""
    n = cols._shape[0]
    kh, kw = win.kernel
    c = cols._shape[1] // (kh * kw)
    out = empty(type(cols), (n, c) + tuple(size), cols.dtype, cols._device)
    if out._numel() == 0:
        return out
    if cols._device.kind == "cpu":
        cpu_view(out)[...] = _fold_numpy(cols, size, win)
        return out
    kernel = _kernel(cols, "fold", out)
    cols._device.launch(kernel, out._numel(), [out._storage.buffer, cols._storage.buffer,
                                               *win.args(n, c, *size)])
    return out


def _kernel(x, direction, out):
    device = x._device
    big = max(x._storage.nbytes, out._storage.nbytes) > INT32_LIMIT
    idx, cidx = index_types(big)
    head = (None, None, idx, idx, idx, idx, idx, x.dtype.compute.numpy) \
        if direction == "unfold" else (None, None)
    return cached_kernel(device, ("im2col", direction, x.dtype, big), lambda: (
        im2col_source(DIALECTS[device.kind], x.dtype, direction, cidx), direction,
        head + (idx,) * 14))


def _positions(win, h, w):
    """Image rows and columns each window element reads: (KH, OH) and (KW, OW) arrays."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (win.kernel, win.stride, win.padding,
                                                        win.dilation, win.out)
    rows = np.arange(oh)[None, :] * sh - ph + np.arange(kh)[:, None] * dh
    cols = np.arange(ow)[None, :] * sw - pw + np.arange(kw)[:, None] * dw
    return rows, cols


def _unfold_numpy(x, win, pad_value):
    n, c, h, w = x._shape
    values = x.dtype.to_numpy_values(cpu_view(x))
    rows, cols = _positions(win, h, w)
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & \
        ((cols >= 0) & (cols < w))[None, :, None, :]            # (KH, KW, OH, OW)
    picked = values[:, :, np.clip(rows, 0, h - 1)[:, None, :, None],
                    np.clip(cols, 0, w - 1)[None, :, None, :]]  # (N, C, KH, KW, OH, OW)
    picked = np.where(inside, picked, np.asarray(pad_value, dtype=picked.dtype))
    return x.dtype.from_numpy_values(picked)


def _fold_numpy(cols, size, win):
    n = cols._shape[0]
    (kh, kw), (oh, ow) = win.kernel, win.out
    h, w = size
    c = cols._shape[1] // (kh * kw)
    values = cols.dtype.to_numpy_values(cpu_view(cols)).reshape(n, c, kh, kw, oh, ow)
    acc = np.zeros((n, c, h, w), dtype=values.dtype)
    rows, columns = _positions(win, h, w)
    for i in range(kh):
        for j in range(kw):
            r, q = rows[i], columns[j]
            keep_r, keep_q = (r >= 0) & (r < h), (q >= 0) & (q < w)
            block = values[:, :, i, j][:, :, keep_r][:, :, :, keep_q]
            acc[:, :, r[keep_r][:, None], q[keep_q][None, :]] += block
    return cols.dtype.from_numpy_values(acc)


def im2col_source(dialect, dtype, direction, index) -> str:
    """Source of the unfold or fold kernel for one dialect (the template tests use it)."""
    return render("im2col.mako", dialect, name=direction, dtype=dtype, direction=direction,
                  index=index)
