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
        _unfold_numpy(x, win, pad_value, cpu_view(out))
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


def _valid(out, stride, pad, offset, size):
    """The output positions ``o`` whose input ``o * stride - pad + offset`` falls inside
    ``[0, size)``: a (first, last + 1) range, empty when first >= last + 1."""
    first = max(0, -(-(pad - offset) // stride))
    last = min(out - 1, (size - 1 + pad - offset) // stride)
    return first, last + 1


def _unfold_numpy(x, win, pad_value, target):
    """Write the (N, C, KH, KW, OH, OW) windows into ``target`` (the contiguous result): the
    padded image read through strided windows (a view), copied once. Unfold moves bits, so it
    works on the stored dtype directly."""
    n, c, h, w = x._shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (win.kernel, win.stride, win.padding,
                                                        win.dilation, win.out)
    # room for every window, ceil_mode's last ones included
    height = max(h + 2 * ph, (oh - 1) * sh + (kh - 1) * dh + 1)
    width = max(w + 2 * pw, (ow - 1) * sw + (kw - 1) * dw + 1)
    pad = x.dtype.from_numpy_values(np.asarray(pad_value, dtype=x.dtype.compute.numpy))
    padded = np.full((n, c, height, width), pad, dtype=x.dtype.storage_np)
    padded[:, :, ph:ph + h, pw:pw + w] = cpu_view(x)
    sn, sc, sy, sx = padded.strides
    windows = np.lib.stride_tricks.as_strided(
        padded, (n, c, kh, kw, oh, ow), (sn, sc, dh * sy, dw * sx, sh * sy, sw * sx),
        writeable=False)
    target.reshape(windows.shape)[...] = windows


def _fold_numpy(cols, size, win):
    """Each window element's column added into its image pixels: one strided slice per
    (kernel row, kernel column), no index arrays."""
    n = cols._shape[0]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (win.kernel, win.stride, win.padding,
                                                        win.dilation, win.out)
    h, w = size
    c = cols._shape[1] // (kh * kw)
    values = cols.dtype.to_numpy_values(cpu_view(cols)).reshape(n, c, kh, kw, oh, ow)
    acc = np.zeros((n, c, h, w), dtype=values.dtype)
    for i in range(kh):
        r0, r1 = _valid(oh, sh, ph, i * dh, h)
        for j in range(kw):
            q0, q1 = _valid(ow, sw, pw, j * dw, w)
            if r0 >= r1 or q0 >= q1:
                continue
            top, left = r0 * sh - ph + i * dh, q0 * sw - pw + j * dw
            acc[:, :, top:top + (r1 - r0 - 1) * sh + 1:sh,
                left:left + (q1 - q0 - 1) * sw + 1:sw] += values[:, :, i, j, r0:r1, q0:q1]
    return cols.dtype.from_numpy_values(acc)


def im2col_source(dialect, dtype, direction, index) -> str:
    """Source of the unfold or fold kernel for one dialect (the template tests use it)."""
    return render("im2col.mako", dialect, name=direction, dtype=dtype, direction=direction,
                  index=index)
