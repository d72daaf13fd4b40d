"""Pooling over sliding windows or adaptive pooling's cells without columns where it pays:
max pooling with PyTorch's indices (``window_max``) and average pooling (``window_mean`` and
its gradient) as ``im2col.mako``'s direct kernels, NumPy on the cpu."""
from __future__ import annotations

import functools

import numpy as np

from .. import dtypes
from . import im2col
from .gemm import describe_product
from .launch import INT32_LIMIT
from .array import Array, adopt_values, cpu_view, empty, from_stored, relayout


def window_max(x: Array, win: im2col.Windows, indices: bool):
    """The maximum of each window of the planes ``x`` (P, 1, H, W), padding read as -inf:
    (values, positions) as (P, OH*OW) arrays. The positions (int64, only when ``indices``,
    else None) are PyTorch's max-pool indices: where in its plane each window's first maximum
    lies (the last NaN counting as the maximum). ``win`` may be adaptive pooling's cells."""
    if x._device.kind == "cpu":
        return (_cells_max_numpy if win.adaptive else _window_max_numpy)(x, win, indices)
    # a GPU: an item per window; a CPU device an item per output row (PoCL, one thread,
    # max_pool2d 3x3/2 of 32x64x56x56: forward 28 ms, 35 with columns and a reduction, 72 with
    # an item per window; forward+backward 85 ms, 187 with columns; PyTorch 53 and 64 ms)
    return _window_max_direct(x, win, indices, x._device.cpu_like and not win.adaptive)


def _window_max_direct(x: Array, win: im2col.Windows, indices: bool, rows=False):
    """window_max as im2col.mako's window_max kernel, no columns: an item per window, or
    with ``rows`` (CPU devices) per output row."""
    p, c, h, w = x._shape
    values = empty(type(x), (p, win.out[0] * win.out[1]), x.dtype, x._device)
    positions = empty(type(x), values._shape, dtypes.int64, x._device) if indices else None
    if values._numel():
        kernel = im2col.im2col_kernel(x, "window_max", values, rows, win.adaptive)
        x._device.launch(kernel, values._numel() // (win.out[1] if rows else 1), [
            values._storage.buffer, (positions if indices else values)._storage.buffer,
            x._storage.buffer, x._offset, *x._strides, int(indices), *win.args(p, c, h, w)],
            local=1 if rows else None)
    return values, positions


def window_max_grad(g: Array, positions: Array, win: im2col.Windows, size) -> Array:
    """The input gradient (P, H*W) of max pooling over disjoint windows (``win.disjoint``,
    kernel devices) from the output gradient ``g`` and the positions (P, OH*OW) window_max
    reported: one gather kernel writing every position (in place of a zero fill and a
    scatter)."""
    p, (h, w) = positions._shape[0], size
    out = empty(type(g), (p, h * w), g.dtype, g._device)
    if out._numel():
        big = max(g._storage.nbytes, out._storage.nbytes) > INT32_LIMIT
        kernel = im2col.kernel_for(g._device, g.dtype, big, "window_max_grad")
        g._device.launch(kernel, out._numel(), [
            out._storage.buffer, g._storage.buffer, g._offset, *g._strides,
            positions._storage.buffer, *win.args(p, 1, h, w)])
        # a chain that alone reads the gradient (ReLU's backward) may run in this kernel, as
        # in a GEMM's epilogue: the gradient is then never stored
        describe_product(out, g.dtype.compute, big, False, im2col.kernel_for, g._device,
                         g.dtype, big, "window_max_grad", False, False)
    return out


def window_mean(x: Array, win: im2col.Windows, include_pad: bool, override) -> Array:
    """Average pooling of the planes ``x`` (P, 1, H, W) on a GPU, no columns: (P, OH*OW),
    each window's in-image sum over PyTorch's divisor (``override`` if given, else the
    window clipped to the padded image with ``include_pad``, to the image without). Adaptive
    pooling's cells (``win.adaptive``, any device) divide by their own size."""
    p, c, h, w = x._shape
    if x._device.kind == "cpu":  # the cpu's regular windows are columns (pooling's own path)
        _cells_only(win)
        return _cells_mean_numpy(x, win, transpose=False)
    out = empty(type(x), (p, win.out[0] * win.out[1]), x.dtype, x._device)
    if out._numel():
        _launch_mean(x, out, x._offset, x._strides, win, include_pad, override, (p, c, h, w),
                     rows=_by_rows(x, win) and win.out[1])
    return out


def window_mean_grad(g: Array, size, win: im2col.Windows, include_pad: bool, override) -> Array:
    """window_mean's input gradient from its contiguous output gradient ``g`` (P, OH*OW): the
    planes' (P, H*W), each position gathering g / divisor of the windows that hold it."""
    p = g._shape[0]
    if g._device.kind == "cpu":
        _cells_only(win)
        return _cells_mean_numpy(g, win, transpose=True, size=size)
    if _as_products(g, win):
        return _cells_mean_products(g, win, size)
    out = empty(type(g), (p, size[0] * size[1]), g.dtype, g._device)
    if out._numel():
        _launch_mean(g, out, g._offset, (0, 0, 0, 0), win, include_pad, override,
                     (p, 1) + tuple(size), "window_mean_grad", _by_rows(g, win) and size[1])
    return out


def _by_rows(x, win) -> bool:
    """Average pooling's rows form (im2col.mako's mean_rows): CPU devices, regular windows,
    summing in the output's own type (PoCL, one thread, avg_pool2d 3x3/2/1 of 32x64x56x56:
    forward 27 ms, forward+backward 78 ms; an item per window 51 and 230 ms, columns 53 and
    220 ms; PyTorch 37 and 77 ms)."""
    return x._device.cpu_like and not win.adaptive and x.dtype is x.dtype.compute


def _as_products(x, win) -> bool:
    """The gradient over adaptive cells on a CPU device, in a type it computes in: two
    batched products with the cells' averaging matrices (PoCL, one thread, 32x512x14x14 to
    5x5 forward and backward: 126 ms with the gathering kernel, 26 ms so; PyTorch 15 ms; the
    forward keeps its kernel: 9.2 ms, 16.6 ms as products)."""
    return win.adaptive and x._device.cpu_like and x.dtype is x.dtype.compute


def _cells_mean_products(g, win, size):
    """The gradient A_h^T G A_w (P, H*W) over an image of ``size`` from ``g`` (P, OH*OW),
    contiguous, on a device; A's rows average each cell's range (``_cells_mean_numpy``)."""
    from .gemm import bmm
    (oh, ow), p, (h, w) = win.out, g._shape[0], size
    a_h, a_w = _device_cell_means(h, oh, g), _device_cell_means(w, ow, g)
    g3 = relayout(g, (p, oh, ow), (g._strides[0], ow, 1))
    rows = bmm(relayout(a_h, (p, h, oh), (0, 1, h)), g3)                 # (P, H, OW)
    out = bmm(rows, relayout(a_w, (p, ow, w), (0, w, 1)))                # (P, H, W)
    return relayout(out, (p, h * w))


def _device_cell_means(size, out, x):
    key = (size, out, x.dtype, x._device)
    matrix = _CELL_MEANS.get(key)
    if matrix is None:
        if len(_CELL_MEANS) > 64:
            _CELL_MEANS.clear()
        matrix = _CELL_MEANS[key] = from_stored(type(x), _cell_means(size, out, x.dtype.numpy),
                                                x.dtype, x._device)
    return matrix


_CELL_MEANS = {}


def _cells_only(win: im2col.Windows) -> None:
    if not win.adaptive:
        raise NotImplementedError("window_mean on the cpu device takes adaptive cells only")


def _launch_mean(src, out, offset, strides, win, include_pad, override, planes,
                 direction="window_mean", rows=0):
    """window_mean's or its gradient's kernel: an item per output, or with ``rows`` (the
    output's row length) per output row."""
    kernel = im2col.im2col_kernel(src, direction, out, bool(rows), win.adaptive)
    src._device.launch(kernel, out._numel() // (rows or 1), [
        out._storage.buffer, src._storage.buffer, offset, *strides, override or 0,
        int(include_pad), *win.args(*planes)], local=1 if rows else None)


def _positions(win, height, width) -> np.ndarray:
    """(K, L) int64: the in-plane index of each window element of each window. A padded
    element gets its window's first element inside the image, as PyTorch reports for a
    window whose maximum is -inf. Built once per geometry."""
    key = (win, height, width)
    table = _POSITIONS.get(key)
    if table is None:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (
            win.kernel, win.stride, win.padding, win.dilation, win.out)
        rows = (np.arange(oh)[:, None] * sh - ph + np.arange(kh)[None, :] * dh)  # (oh, kh)
        cols = (np.arange(ow)[:, None] * sw - pw + np.arange(kw)[None, :] * dw)  # (ow, kw)
        row_in, col_in = (rows >= 0) & (rows < height), (cols >= 0) & (cols < width)
        rows = np.where(row_in, rows, rows[np.arange(oh), row_in.argmax(1)][:, None])
        cols = np.where(col_in, cols, cols[np.arange(ow), col_in.argmax(1)][:, None])
        flat = rows.T[:, None, :, None] * width + cols.T[None, :, None, :]  # (kh, kw, oh, ow)
        if len(_POSITIONS) > 64:
            _POSITIONS.clear()
        table = _POSITIONS[key] = np.ascontiguousarray(flat.reshape(kh * kw, oh * ow),
                                                       dtype=np.int64)
    return table


_POSITIONS = {}


def _window_max_numpy(x, win, indices):
    """Long rows: the windows copied as (P, K, L) and reduced over K. Short rows: NumPy's
    reductions crawl over a short middle axis (a 2x2 window of a small image), so the windows
    are copied window-element first, (K, P*L), and reduced across those K long rows."""
    p, (kh, kw), (oh, ow) = x._shape[0], win.kernel, win.out
    if not im2col.short_rows(win):
        cols = x.dtype.to_numpy_values(np.ascontiguousarray(
            im2col.window_view(x, win, _lowest(x.dtype))).reshape(p, kh * kw, oh * ow))
        values_np = np.maximum.reduce(cols, axis=1)  # NaN propagates, as in PyTorch
        values = adopt_values(type(x), x._device, values_np, x.dtype, (p, oh * ow))
        return values, (_positions_at(x, win, _last_nan(cols, values_np, np.argmax(
            cols, axis=1), 1)) if indices else None)
    k, m = kh * kw, p * oh * ow
    windows = im2col.window_view(x, win, _lowest(x.dtype)).transpose(2, 3, 0, 1, 4, 5)
    stacked = x.dtype.to_numpy_values(np.ascontiguousarray(windows).reshape(k, m))
    best = np.empty((p, oh * ow), stacked.dtype)
    np.maximum.reduce(stacked, axis=0, out=best.reshape(m))  # NaN propagates, as in PyTorch
    values = adopt_values(type(x), x._device, best, x.dtype, best.shape)
    if not indices:
        return values, None
    hit = stacked == best.reshape(m)
    if k <= 8:  # the first hit: the lowest set bit of each column's hits as one byte
        bits, shifted = hit.view(np.uint8), np.empty(m, np.uint8)
        code = bits[0].copy()
        for j in range(1, k):
            code |= np.left_shift(bits[j], j, out=shifted)
        which = _LOWEST_BIT[code]
    else:
        which = np.argmax(hit, axis=0)
    which = _last_nan(stacked, best.reshape(m), which, 0)
    return values, _positions_at(x, win, which.reshape(p, oh * ow))


def _lowest(dtype):
    """The padding of max pooling's windows: -inf, or an integer type's least value (where
    only padding and that value meet, the positions table reports the in-image element)."""
    compute = dtype.compute.numpy
    return float("-inf") if compute.kind == "f" else int(np.iinfo(compute).min)


def _positions_at(x, win, which):
    """The in-plane positions (P, L) of the window elements ``which`` (P, L) picks: the
    positions table (K, L) read at (which, l), flat which * L + l."""
    length = which.shape[1]
    positions = np.take(_positions(win, *x._shape[2:]), which * length + np.arange(length))
    return adopt_values(type(x), x._device, positions, dtypes.int64, positions.shape)


def _cells_max_numpy(x, win, indices):
    """Adaptive max pooling on the cpu, in two passes as the cells are products of ranges:
    the maximum of each row's column ranges, then of those over each cell's rows. Each cell
    keeps PyTorch's index: the first of equal maxima, the last NaN, in row-major order (the
    first row holding the maximum, then its first column; the last row holding a NaN, then
    its last)."""
    p, _, h, w = x._shape
    (oh, ow), planes = win.out, x.dtype.to_numpy_values(cpu_view(x)).reshape(p, h, w)
    if oh * ow == 0:
        return (empty(type(x), (p, 0), x.dtype, x._device),
                empty(type(x), (p, 0), dtypes.int64, x._device) if indices else None)
    cols, rows = _cell_table(w, ow), _cell_table(h, oh)               # (OW, KW), (OH, KH)
    row_best, row_k = _first_max(planes[:, :, cols], axis=3)           # (P, H, OW)
    best, which = _first_max(row_best[:, rows, :], axis=2)             # (P, OH, OW)
    values = adopt_values(type(x), x._device, best.reshape(p, oh * ow), x.dtype, (p, oh * ow))
    if not indices:
        return values, None
    row_col = cols[np.arange(ow), row_k]                               # (P, H, OW) columns
    at_row = rows[np.arange(oh)[:, None], which]                       # (P, OH, OW) rows
    at_col = np.take_along_axis(row_col, at_row, axis=1)
    flat = (at_row * w + at_col).reshape(p, oh * ow).astype(np.int64)
    return values, adopt_values(type(x), x._device, flat, dtypes.int64, flat.shape)


@functools.lru_cache(maxsize=64)
def _cell_table(size, out) -> np.ndarray:
    """(out, largest cell) int64: each cell's positions along an axis, its last one repeated
    past its end (a repeat changes neither the maximum nor which position holds it). Built
    once per geometry (read-only)."""
    bounds = im2col.adaptive_bounds(size, out)
    span = max((e - s for s, e in bounds), default=0)
    table = np.array([[min(s + k, e - 1) for k in range(span)] for s, e in bounds], np.int64)
    table.flags.writeable = False
    return table


def _first_max(values, axis):
    """The maximum along ``axis`` (NaN propagating) and PyTorch's pick of its position: the
    first of equal maxima, or the last NaN."""
    best = np.max(values, axis=axis)
    return best, _last_nan(values, best, np.argmax(values, axis=axis), axis)


def _last_nan(values, best, at, axis):
    """``at`` (the first maxima along ``axis``), where ``best`` is NaN the last NaN instead:
    PyTorch's max pooling keeps the last NaN of a window (``val > max || isnan(val)``)."""
    if values.dtype.kind == "f" and np.isnan(best).any():
        last = values.shape[axis] - 1 - np.argmax(np.flip(np.isnan(values), axis), axis=axis)
        at = np.where(np.isnan(best), last, at)
    return at


def _cells_mean_numpy(x, win, transpose, size=None):
    """Adaptive average pooling on the cpu as two small products: (P, H, W) planes to cells
    A_h X A_w^T, where A's rows average each cell's range; with ``transpose`` the gradient
    A_h^T G A_w of ``x`` (P, OH*OW) over an image of ``size``."""
    (oh, ow), p = win.out, x._shape[0]
    h, w = size if transpose else x._shape[2:]
    compute = x.dtype.compute.numpy
    a_h, a_w = (_cell_means(n, o, compute) for n, o in ((h, oh), (w, ow)))
    values = x.dtype.to_numpy_values(cpu_view(x)).astype(compute, copy=False)
    if transpose:
        result = a_h.T @ values.reshape(p, oh, ow) @ a_w               # (P, H, W)
    else:
        result = a_h @ values.reshape(p, h, w) @ a_w.T                 # (P, OH, OW)
    return adopt_values(type(x), x._device, result.reshape(p, -1), x.dtype,
                        (p, result.shape[1] * result.shape[2]))


@functools.lru_cache(maxsize=64)
def _cell_means(size, out, dtype) -> np.ndarray:
    """(out, size): row i averages cell i's range along one axis. Built once per geometry
    (read-only)."""
    matrix = np.zeros((out, size), dtype)
    for i, (s, e) in enumerate(im2col.adaptive_bounds(size, out)):
        matrix[i, s:e] = 1.0 / (e - s)
    matrix.flags.writeable = False
    return matrix


_LOWEST_BIT = np.array([max(0, (b & -b).bit_length() - 1) for b in range(256)], dtype=np.int64)
