"""Depthwise convolution (groups == input channels) as direct kernels (``depthwise.mako``): the
forward, input gradient and weight gradient read the image and the output gradient in place,
with no column matrix and no batched product of per-channel matrices a few elements wide."""
from __future__ import annotations

import numpy as np

from ..codegen import DIALECTS, render
from .array import Array, empty, relayout
from .im2col import Windows
from .launch import INT32_LIMIT, cached_kernel, index_types


def applies(x: Array, weight: Array, groups: int) -> bool:
    """Whether a convolution runs here: one input channel per group, floats on an OpenCL or
    CUDA device (on a CPU device those it computes in: its row form accumulates in the
    output). The NumPy cpu device keeps the columns and the batched product."""
    return (x._device.kind != "cpu" and x.dtype.category == 2 and groups > 1 and
            groups == x._shape[1] and weight._shape[1] == 1 and
            (not x._device.cpu_like or x.dtype is x.dtype.compute))


def forward(x: Array, weight: Array, bias, win: Windows) -> Array:
    """out (N, O, OH*OW) of ``x`` (N, C, H, W), strided, by ``weight`` (O, 1, KH, KW),
    contiguous (from its offset, as the bias and g below), plus ``bias`` (O,) or None."""
    n, c, h, w = x._shape
    o = weight._shape[0]
    out = empty(type(x), (n, o, win.out[0] * win.out[1]), x.dtype, x._device)
    if out._numel():
        _launch("forward", out, [
            out._storage.buffer, x._storage.buffer, x._offset, *x._strides,
            weight._storage.buffer, weight._offset,
            (weight if bias is None else bias)._storage.buffer,
            (weight if bias is None else bias)._offset, int(bias is not None),
            *win.args(n, c, h, w), o // c], win.out[1], x, weight)
    return out


def input_grad(g: Array, weight: Array, win: Windows, shape) -> Array:
    """The input's gradient, of ``shape`` (N, C, H, W), from the contiguous output gradient
    ``g`` (N, O, OH, OW) and the contiguous ``weight``."""
    n, c, h, w = shape
    out = empty(type(g), tuple(shape), g.dtype, g._device)
    if out._numel():
        _launch("input_grad", out, [out._storage.buffer, g._storage.buffer, g._offset,
                                    weight._storage.buffer, weight._offset,
                                    *win.args(n, c, h, w), weight._shape[0] // c], w, g,
                weight)
    return out


def weight_grad(g: Array, x: Array, weight: Array, win: Windows) -> Array:
    """The weight's gradient, in its shape and dtype: per image sums of g times each tap's
    shifted image (N, O*KH*KW) in the compute type, then their sum over the images."""
    from .reduce import reduce
    n, c, h, w = x._shape
    o = weight._shape[0]
    partial = empty(type(x), (n, weight._numel()), x.dtype.compute, x._device)
    if partial._numel():
        _launch("weight_grad", partial, [
            partial._storage.buffer, g._storage.buffer, g._offset, x._storage.buffer, x._offset,
            *x._strides, *win.args(n, c, h, w), o // c], 1, x, g)
    return relayout(reduce("sum", partial, 0, dtype=weight.dtype), weight._shape)


def _launch(direction, out, args, row, *inputs) -> None:
    """Launch ``direction``'s kernel over ``out``'s elements, or on a CPU device over its
    rows of ``row`` elements for the forward and input gradient (64-bit indices where a
    buffer needs them)."""
    x = inputs[0]
    device = x._device
    rows = device.cpu_like and direction != "weight_grad"
    big = max([out._storage.nbytes] + [a._storage.nbytes for a in inputs]) > INT32_LIMIT
    idx, cidx = index_types(big)
    kernel = cached_kernel(device, ("depthwise", direction, x.dtype, big, rows), lambda: (
        depthwise_source(DIALECTS[device.kind], x.dtype, direction, cidx, rows),
        f"depthwise_{direction}", _argtypes(direction, idx)))
    if rows:
        device.launch(kernel, out._numel() // row, args, local=1)
    else:
        device.launch(kernel, out._numel(), args)


def _argtypes(direction, idx) -> tuple:
    """The kernel's argument types: its buffers and offsets, then the 15 geometry values."""
    head = {"forward": (None, None, idx, idx, idx, idx, idx, None, idx, None, idx, np.int32),
            "input_grad": (None, None, idx, None, idx),
            "weight_grad": (None, None, idx, None, idx, idx, idx, idx, idx)}[direction]
    return head + (idx,) * 15


def depthwise_source(dialect, dtype, direction, index, rows=False) -> str:
    """Source of one depthwise kernel ("forward", "input_grad", "weight_grad") for a dialect
    (the template tests use it); rows: the CPU form of the forward and input gradient."""
    return render("depthwise.mako", dialect, name=f"depthwise_{direction}", dtype=dtype,
                  direction=direction, index=index, rows=rows)
