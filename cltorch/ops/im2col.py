"""Sliding windows over (N, C, H, W) images: ``unfold`` (image -> columns) and ``fold``
(columns -> image, summing overlaps), the core that convolution and pooling build on. The
``im2col.mako`` kernels, or NumPy on the cpu."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..codegen import DIALECTS, render
from .. import dtypes
from . import fused
from .array import (Array, adopt_stored, adopt_values, check_dtype_supported, cpu_view, empty,
                    from_stored, quietly, relayout)
from .launch import INT32_LIMIT, cached_kernel, index_types
from .layout import numel


PACK_RUN = 64  # k values an item of im2col.mako's pack kernel writes (its CH)


@dataclass(frozen=True)
class Windows:
    """Window geometry: kernel, stride, padding, dilation (each (h, w)) and the output grid;
    or, ``adaptive``, adaptive pooling's cells: cell (i, j) of the (OH, OW) grid over an
    (H, W) plane covers rows [floor(i H / OH), ceil((i + 1) H / OH)) and the columns likewise
    (the other fields then only describe the largest cell)."""
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple
    adaptive: bool = False

    @classmethod
    def cells(cls, size, out) -> "Windows":
        """Adaptive pooling's cells over an image of ``size`` (h, w) for an ``out`` grid."""
        largest = tuple(max((e - s for s, e in adaptive_bounds(n, o)), default=0)
                        for n, o in zip(size, out))
        return cls(largest, (1, 1), (0, 0), (1, 1), tuple(out), True)

    @property
    def identity(self) -> bool:
        """Windows of one pixel each, one per pixel: the columns are the image itself (a 1x1
        convolution with stride 1 and no padding)."""
        return (self.kernel, self.stride, self.padding, self.adaptive) == ((1, 1), (1, 1),
                                                                           (0, 0), False)

    @property
    def disjoint(self) -> bool:
        """No two windows share an image position (each stride at least its window's reach;
        cells that do not tile the image evenly overlap)."""
        return not self.adaptive and all(
            s >= (k - 1) * d + 1 for k, s, d in zip(self.kernel, self.stride, self.dilation))

    def args(self, n, c, h, w):
        return [n, c, h, w, *self.kernel, *self.stride, *self.padding, *self.dilation,
                *self.out]


def adaptive_bounds(size: int, out: int) -> list:
    """Adaptive pooling's cells along one axis: [floor(i S / O), ceil((i + 1) S / O))."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def image_columns(x: Array, win: Windows):
    """x (N, C, H, W) as its own columns (N, C, H*W), a view, where ``win`` is the identity and
    each plane's rows follow each other in memory (a 1x1 convolution is then a plain GEMM
    over the image); else None."""
    n, c, h, w = x._shape
    sn, sc, sh, sw = x._strides
    if not win.identity or (w > 1 and sw != 1) or (h > 1 and sh != w):
        return None
    return relayout(x, (n, c, h * w), (sn, sc, 1))


def unfold(x: Array, win: Windows, pad_value=0.0) -> Array:
    """x (N, C, H, W) -> (N, C*KH*KW, OH*OW); outside the image reads ``pad_value``."""
    n, c, h, w = x._shape
    kh, kw = win.kernel
    shape = (n, c * kh * kw, win.out[0] * win.out[1])
    if x._device.kind == "cpu" and numel(shape) and short_rows(win):
        check_dtype_supported(x._device, x.dtype)
        return adopt_stored(type(x), x._device, _taken_windows(x, win, pad_value).reshape(shape),
                            x.dtype, shape, fresh=True)
    out = empty(type(x), shape, x.dtype, x._device)
    if out._numel() == 0:
        return out
    check_dtype_supported(x._device, x.dtype)
    if x._device.kind == "cpu":
        _unfold_numpy(x, win, pad_value, cpu_view(out))
        return out
    device = x._device
    kernel = im2col_kernel(x, "unfold", out, rows=device.cpu_like)
    device.launch(kernel, out._numel() // (win.out[1] if device.cpu_like else 1),
                  [out._storage.buffer, x._storage.buffer, x._offset, *x._strides, pad_value,
                   *win.args(n, c, h, w)], local=1 if device.cpu_like else None)
    return out


def fold(cols: Array, size: tuple, win: Windows) -> Array:
    """cols (N, C*KH*KW, OH*OW), contiguous -> (N, C, H, W): each pixel sums its windows."""
    n = cols._shape[0]
    kh, kw = win.kernel
    c = cols._shape[1] // (kh * kw)
    shape = (n, c) + tuple(size)
    if cols._device.kind == "cpu" and cols._numel() and numel(shape):
        values = cols.dtype.to_numpy_values(cpu_view(cols))
        return adopt_values(type(cols), cols._device, _fold_values(values, n, size, win),
                            cols.dtype, shape)
    out = empty(type(cols), shape, cols.dtype, cols._device)
    if out._numel() == 0:
        return out
    if cols._device.kind == "cpu":  # no windows: zeros
        cpu_view(out)[...] = 0
        return out
    device = cols._device
    # a CPU device folds a plane an item (im2col.mako's rows form), in the compute type
    planes = device.cpu_like and cols.dtype is cols.dtype.compute
    kernel = im2col_kernel(cols, "fold", out, rows=planes)
    device.launch(kernel, n * c if planes else out._numel(),
                  [out._storage.buffer, cols._storage.buffer, *win.args(n, c, *size)],
                  local=1 if planes else None)
    return out


def im2col_kernel(x, direction, out, rows=False, adaptive=False):
    """The compiled kernel of ``direction`` reading ``x`` and writing ``out``."""
    big = max(x._storage.nbytes, out._storage.nbytes) > INT32_LIMIT
    return kernel_for(x._device, x.dtype, big, direction, rows, adaptive)


def kernel_for(device, dtype, big, direction, rows=False, adaptive=False, epilogue=None):
    """im2col_kernel by its parts; ``epilogue`` (window_max_grad's, an ops/fused.Epilogue):
    its arguments follow the geometry's."""
    idx, cidx = index_types(big)
    mean = (None, None, idx, idx, idx, idx, idx, dtype.compute.numpy, np.int32)
    head = {"unfold": (None, None, idx, idx, idx, idx, idx, dtype.compute.numpy),
            "window_max": (None, None, None, idx, idx, idx, idx, idx, np.int32),
            "window_max_grad": (None, None, idx, idx, idx, None),
            "window_mean": mean, "window_mean_grad": mean}.get(direction, (None, None))
    tail = () if epilogue is None else fused.argtypes(epilogue, idx)
    return cached_kernel(device, ("im2col", direction, dtype, big, rows, adaptive, epilogue),
                         lambda: (im2col_source(DIALECTS[device.kind], dtype, direction, cidx,
                                                rows, adaptive=adaptive, epilogue=epilogue),
                                  direction, head + (idx,) * 14 + tail))


def pack_windows(x: Array, win: Windows, panel: int, rows_are: str) -> tuple:
    """x's windows as a CPU GEMM operand (gemm.packed_product's layout, the compute type):
    panels of ``panel`` output positions over the taps, one set per image ("positions"), or
    of ``panel`` taps over the (image, position) pairs of the whole batch ("taps"). Returns
    (the panels, one set's size in elements, or 0 for "taps"; ``panel``)."""
    n, c, h, w = x._shape
    device, compute = x._device, x.dtype.compute
    positions, taps = win.out[0] * win.out[1], c * win.kernel[0] * win.kernel[1]
    rows, k, sets = (positions, taps, n) if rows_are == "positions" else (taps, n * positions, 1)
    size = -(-rows // panel) * panel * k
    packed = empty(type(x), (sets * size,), compute, device)
    big = max(x._storage.nbytes, packed._storage.nbytes) > INT32_LIMIT
    idx, cidx = index_types(big)
    kernel = cached_kernel(device, ("im2col", "pack", x.dtype, big, panel, rows_are), lambda: (
        im2col_source(DIALECTS[device.kind], x.dtype, "pack", cidx, panel=panel,
                      rows_are=rows_are), "pack", (None, None) + (idx,) * 19))
    device.launch(kernel, sets * -(-rows // panel) * -(-k // PACK_RUN),
                  [packed._storage.buffer, x._storage.buffer, x._offset, *x._strides,
                   *win.args(n, c, h, w)], local=1)
    return packed, (size if sets > 1 else 0), panel


def _valid(out, stride, pad, offset, size):
    """The output positions ``o`` whose input ``o * stride - pad + offset`` falls inside
    ``[0, size)``: a (first, last + 1) range, empty when first >= last + 1."""
    first = max(0, -(-(pad - offset) // stride))
    last = min(out - 1, (size - 1 + pad - offset) // stride)
    return first, last + 1


def conv_grads(g: Array, weight: Array, cols, win: Windows, size, wanted, x=None) -> tuple:
    """A convolution's input, weight and bias gradients (those ``wanted``), no graph, from its
    contiguous output gradient ``g`` (N, O, ...), weight (O, C, KH, KW) and input columns
    ``cols`` (N, C*K, L), or None after conv_implicit (then the input ``x``): W^T g folded
    back to the image, the sum over images of g cols^T (made in the weight's shape, so
    AccumulateGrad keeps it without a copy), g's sums."""
    n, o = g._shape[0], weight._shape[0]
    if g._device.kind == "cpu":
        return _conv_grads_numpy(g, weight, cols, win, size, wanted)
    from . import winograd
    from .gemm import bmm
    from .reduce import reduce
    ck, length = weight._numel() // o, win.out[0] * win.out[1]
    g3 = relayout(g, (n, o, length))
    d_x = d_w = d_b = None
    if wanted[0] and winograd.applies(g, weight, win.stride, win.dilation, win.padding):
        d_x = relayout(winograd.convolve(relayout(g, (n, o) + tuple(win.out)), weight, None,
                                         tuple(2 - p for p in win.padding), size, flip=True),
                       (n, weight._shape[1]) + tuple(size))
    if wanted[0] and cols is None and d_x is None:
        d_x = _implicit_input_grad(g, weight, win, size)
    if wanted[0] and d_x is None:
        d_cols = bmm(relayout(weight, (n, ck, o), (0, 1, ck)), g3)       # (N, CK, L)
        d_x = (relayout(d_cols, (n, ck) + tuple(size)) if win.identity else
               fold(d_cols, size, win))
    if wanted[1] and cols is None:
        d_w = _implicit_weight_grad(g3, weight, x, win)
        if d_w is None:  # the GPU's tiled kernel does not fit: columns after all
            cols = unfold(x, win, 0.0)
    if wanted[1] and d_w is None:
        sn, sk, sl = cols._strides  # cols^T, a view
        per_image = bmm(g3, relayout(cols, (n, length, ck), (sn, sl, sk)))
        d_w = relayout(reduce("sum", per_image, 0), weight._shape)
    if wanted[2]:
        d_b = reduce("sum", g3, (0, 2))
    return d_x, d_w, d_b


def implicit(x: Array, weight: Array, win: Windows) -> bool:
    """Whether a convolution of ``x`` by ``weight`` runs as an implicit GEMM (conv_implicit):
    for floats; on a CPU device (the packed GEMM's types) with the work that makes the packed
    GEMM worth its launches (gemm.PACKED_MIN_WORK); on a GPU, in the tiled GEMM."""
    from .gemm import PACKED_MIN_WORK
    if x.dtype.category != 2 or x._device.kind == "cpu":
        return False
    work = x._shape[0] * weight._numel() * win.out[0] * win.out[1]
    return not x._device.cpu_like or work >= PACKED_MIN_WORK


def conv_implicit(x: Array, weight: Array, win: Windows, bias=None):
    """out (N, O, L) = weight (O, C*K) @ x's windows, per image, with no column matrix: on a
    CPU device the weight packed once and x's windows packed straight from the image
    (pack_windows); on a GPU the tiled GEMM reading B from the image (gemm.windows_product;
    None where it does not fit the device). ``bias`` laid out over (1, O, 1) added after."""
    from . import gemm
    n, o = x._shape[0], weight._shape[0]
    ck, length, compute = weight._numel() // o, win.out[0] * win.out[1], x.dtype.compute
    out = empty(type(x), (n, o, length), x.dtype, x._device)
    if not out._numel():
        return out
    if not x._device.cpu_like:
        if not gemm.windows_product(out, relayout(weight, (n, o, ck), (0, ck, 1)), x, win,
                                    "positions", lambda dt: tap_table(x, win, dt)):
            return None
    else:
        gemm.packed_product(
            out, gemm.pack_operand(relayout(weight, (1, o, ck), (0, ck, 1)),
                                   gemm.packed_rows(x._device, compute, o, length), compute),
            pack_windows(x, win, gemm.packed_width(compute), "positions"), n, o, length, ck)
    if bias is not None:
        from .pointwise import apply
        apply("add", [out, bias, 1], out=out, inplace=True)
    return out


def tap_table(x: Array, win: Windows, index_dtype, channel_only=False) -> Array:
    """The taps of ``win`` over x's channels, in the weight's (C, KH, KW) order, as a device
    array of ``index_dtype`` triples: (offset of the tap's channel and kernel element in
    x, or of its channel only with ``channel_only``; its row shift; its column shift). Built
    once per geometry and strides."""
    key = ("taps", x._shape[1], win.kernel, win.dilation, x._strides[1:], index_dtype,
           channel_only, x._device)
    table = _TAP_TABLES.get(key)
    if table is None:
        (kh, kw), (dh, dw), (sc, sh, sw) = win.kernel, win.dilation, x._strides[1:]
        sh, sw = (0, 0) if channel_only else (sh, sw)
        c, ky, kx = (a.ravel() for a in np.meshgrid(np.arange(x._shape[1]), np.arange(kh) * dh,
                                                    np.arange(kw) * dw, indexing="ij"))
        values = np.stack([c * sc + ky * sh + kx * sw, ky, kx], axis=1).astype(index_dtype)
        if len(_TAP_TABLES) > 64:
            _TAP_TABLES.clear()
        table = _TAP_TABLES[key] = from_stored(
            type(x), values.ravel(), dtypes.int64 if index_dtype == np.int64 else dtypes.int32,
            x._device)
    return table


_TAP_TABLES = {}


def _implicit_input_grad(g: Array, weight: Array, win: Windows, size):
    """On a GPU, the input gradient (N, C, H, W) = W^T (C, O*K) @ g's windows (the transposed
    convolution: each input position gathers the output positions its taps reached), in the
    tiled GEMM reading g in place: no column matrix and no fold. None on a CPU device (its
    columns go through the packed GEMM) or where the tiled kernel does not fit."""
    from . import gemm
    from .pointwise import apply
    if g._device.cpu_like:
        return None
    n, o, (c, kh, kw) = g._shape[0], weight._shape[0], weight._shape[1:]
    taps = o * kh * kw
    w_t = empty(type(weight), (c, o, kh, kw), weight.dtype, weight._device)  # small: a copy
    apply("copy", [relayout(weight, w_t._shape, (weight._strides[1], weight._strides[0],
                                                 *weight._strides[2:]))], out=w_t, inplace=True)
    g4 = relayout(g, (n, o) + tuple(win.out))                            # (N, O, OH, OW)
    d_x = empty(type(g), (n, c, size[0] * size[1]), g.dtype, g._device)
    if not gemm.windows_product(d_x, relayout(w_t, (n, c, taps), (0, taps, 1)), g4, win,
                                "gradient", lambda dt: tap_table(g4, win, dt, True), size[1]):
        return None
    return relayout(d_x, (n, c) + tuple(size))


def _implicit_weight_grad(g3, weight, x, win):
    """sum over images of g (O, L) @ windows (L, C*K). On a CPU device one product over the
    batch: g's panels with the images folded into k, x's windows packed with taps as rows.
    On a GPU one tiled product per image in one launch (B read from the image), then the sum
    over images (a product over the whole batch would make too few tiles to fill a GPU); None
    where the tiled kernel does not fit."""
    from . import gemm
    n, o, length = g3._shape
    ck, compute = weight._numel() // o, g3.dtype.compute
    if not g3._device.cpu_like:
        from .reduce import reduce
        per_image = empty(type(g3), (n, o, ck), g3.dtype, g3._device)
        if not gemm.windows_product(per_image, g3, x, win, "taps",
                                    lambda dt: tap_table(x, win, dt)):
            return None
        return relayout(reduce("sum", per_image, 0), weight._shape)
    d_w = empty(type(g3), weight._shape, weight.dtype, g3._device)
    gemm.packed_product(
        relayout(d_w, (1, o, ck)),
        gemm.pack_operand(relayout(g3, (1, o, n * length), (0, length, 1)),
                          gemm.packed_rows(g3._device, compute, o, ck), compute,
                          k_split=(length, o * length)),
        pack_windows(x, win, gemm.packed_width(compute), "taps"), 1, o, ck, n * length)
    return d_w


def _conv_grads_numpy(g, weight, cols, win, size, wanted):
    """``conv_grads`` in NumPy: the same products and sums, one call each."""
    n, o, ck, length = g._shape[0], weight._shape[0], cols._shape[1], cols._shape[2]
    compute = g.dtype.compute.numpy
    vg, vw, vc = (x.dtype.to_numpy_values(cpu_view(x)).astype(compute, copy=False)
                  for x in (g, weight, cols))
    vg, vw = vg.reshape(n, o, length), vw.reshape(o, ck)
    cls, device = type(g), g._device
    d_x = d_w = d_b = None
    if wanted[0]:
        d_cols = quietly(np.matmul, vw.T, vg)                               # (N, CK, L)
        shape = (n, ck // (win.kernel[0] * win.kernel[1])) + tuple(size)
        d_x = adopt_values(cls, device, d_cols.reshape(shape) if win.identity else
                           _fold_values(d_cols, n, size, win), g.dtype, shape)
    if wanted[1]:
        per_image = quietly(np.matmul, vg, vc.transpose(0, 2, 1))          # (N, O, CK)
        d_w = adopt_values(cls, device, quietly(np.add.reduce, per_image, 0).reshape(
            weight._shape), weight.dtype, weight._shape)
    if wanted[2]:  # the images first, whole rows at a time, then each channel's positions
        d_b = adopt_values(cls, device, quietly(np.add.reduce, quietly(np.add.reduce, vg, 0), 1),
                           g.dtype, (o,))
    return d_x, d_w, d_b


def _padded_size(win, h, w) -> tuple:
    """The padded image's size, with room for every window (ceil_mode's last ones too)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (win.kernel, win.stride, win.padding,
                                                        win.dilation, win.out)
    return (max(h + 2 * ph, (oh - 1) * sh + (kh - 1) * dh + 1),
            max(w + 2 * pw, (ow - 1) * sw + (kw - 1) * dw + 1))


def _padded(x, win, pad_value) -> np.ndarray:
    """``x``'s stored bits as (N, C, height, width), padded with ``pad_value`` where windows
    reach outside the image (``x`` itself, a view, where none do)."""
    n, c, h, w = x._shape
    ph, pw = win.padding
    height, width = _padded_size(win, h, w)
    if (height, width) == (h, w):
        return cpu_view(x)
    pad = x.dtype.from_numpy_values(np.asarray(pad_value, dtype=x.dtype.compute.numpy))
    padded = np.full((n, c, height, width), pad, dtype=x.dtype.storage_np)
    padded[:, :, ph:ph + h, pw:pw + w] = cpu_view(x)
    return padded


def window_view(x, win, pad_value):
    """The (N, C, KH, KW, OH, OW) windows of ``x``'s stored bits as a read-only strided view
    (of a padded copy where windows reach outside the image)."""
    padded = _padded(x, win, pad_value)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = win.kernel, win.stride, win.dilation, win.out
    sn, sc, sy, sx = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded, padded.shape[:2] + (kh, kw, oh, ow),
        (sn, sc, dh * sy, dw * sx, sh * sy, sw * sx), writeable=False)


def _window_index(win, h, w) -> np.ndarray:
    """(KH*KW*OH*OW,) int64: where each window element of each window lies in the flattened
    padded plane, built once per geometry."""
    key = (win, h, w)
    index = _WINDOW_INDEX.get(key)
    if index is None:
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = win.kernel, win.stride, win.dilation, win.out
        width = _padded_size(win, h, w)[1]
        rows = np.arange(kh)[:, None, None, None] * dh + np.arange(oh)[None, None, :, None] * sh
        cols = np.arange(kw)[None, :, None, None] * dw + np.arange(ow)[None, None, None, :] * sw
        if len(_WINDOW_INDEX) > 32:
            _WINDOW_INDEX.clear()
        index = _WINDOW_INDEX[key] = (rows * width + cols).reshape(-1)
    return index


def _planes_index(win, h, w, planes) -> np.ndarray:
    """``_window_index`` for ``planes`` padded planes laid end to end (fold's bins)."""
    key = (win, h, w, planes)
    index = _WINDOW_INDEX.get(key)
    if index is None:
        height, width = _padded_size(win, h, w)
        index = (np.arange(planes)[:, None] * (height * width) +
                 _window_index(win, h, w)[None, :]).reshape(-1)
        if index.size <= 1 << 18:  # kept: at most 2 MiB each, 32 entries
            if len(_WINDOW_INDEX) > 32:
                _WINDOW_INDEX.clear()
            _WINDOW_INDEX[key] = index
    return index


_WINDOW_INDEX = {}
_BINCOUNT_LIMIT = 1 << 16  # fold's elements: beyond, slices (measured: 2x faster at 18K
#                            elements, 6x slower at 300K, where the index is built per call)


def short_rows(win) -> bool:
    """Windows whose output rows are a few elements long: NumPy's strided copies and middle-
    axis reductions crawl over such rows (unfold of 4x4 images: 2x slower than an indexed
    take), while long rows favour them (56x56: 1.5x faster than the take)."""
    return win.out[1] < 8


def _taken_windows(x, win, pad_value) -> np.ndarray:
    """The (N, C, KH*KW*OH*OW) window elements of short rows, taken through a per-plane
    index (NumPy's strided copy crawls over rows of a few elements). Stored bits: unfold
    moves them, so it works on the stored dtype directly."""
    n, c, h, w = x._shape
    planes = np.ascontiguousarray(_padded(x, win, pad_value)).reshape(n, c, -1)
    return np.take(planes, _window_index(win, h, w), axis=2)


def _unfold_numpy(x, win, pad_value, target):
    """Write the (N, C, KH, KW, OH, OW) windows of large images into ``target`` (the
    contiguous result): the strided window view copied once (its rows are long)."""
    windows = window_view(x, win, pad_value)
    target.reshape(windows.shape)[...] = windows


def _fold_values(values, n, size, win):
    """The (N, C, H, W) values of columns ``values`` (N, C*KH*KW, OH*OW): each window
    element's column added into its image pixels. Small images: one ``bincount`` over every
    plane's window index (summing in float64, rounded once); large ones: one strided slice
    per (kernel row, kernel column)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (win.kernel, win.stride, win.padding,
                                                        win.dilation, win.out)
    h, w = size
    c = values.shape[1] // (kh * kw)
    if values.size <= _BINCOUNT_LIMIT:
        height, width = _padded_size(win, h, w)
        sums = np.bincount(_planes_index(win, h, w, n * c), weights=values.reshape(-1),
                           minlength=n * c * height * width)
        return sums.reshape(n, c, height, width)[:, :, ph:ph + h, pw:pw + w]
    values = values.reshape(n, c, kh, kw, oh, ow)
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
    return acc


def im2col_source(dialect, dtype, direction, index, rows=False, panel=0,
                  rows_are="positions", adaptive=False, epilogue=None) -> str:
    """Source of the unfold, fold, pack or window_max kernel for one dialect (the template
    tests use it); rows: unfold's CPU form, an item per output row; pack: panels of
    ``panel`` rows that are output positions or taps (``rows_are``); adaptive: pooling
    kernels over adaptive pooling's cells; epilogue (window_max_grad): the ops/fused.Epilogue
    that takes each gradient element instead of its store."""
    return render("im2col.mako", dialect, name=direction, dtype=dtype, direction=direction,
                  index=index, rows=rows, panel=panel, rows_are=rows_are, adaptive=adaptive,
                  epilogue=epilogue)
