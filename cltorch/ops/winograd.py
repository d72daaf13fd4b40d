"""Winograd F(2x2, 3x3) convolution (``winograd.mako``): a 3x3, stride-1, undilated, ungrouped
convolution as its weights' and input tiles' transforms, one batched GEMM of 16 products
(O x C by C x tiles) and the output transform: 2.25x fewer multiply-adds than the direct
product, for transforms that read and write each value a few times. The input gradient of such
a convolution is one too (the output gradient convolved by the flipped, transposed kernel with
padding 2 - p), so it takes the same path. Off unless CLTORCH_WINOGRAD=1 (``applies``)."""
from __future__ import annotations

import numpy as np

from .. import config
from ..codegen import DIALECTS, render
from .array import Array, empty
from .launch import INT32_LIMIT, cached_kernel, index_types


def applies(x: Array, weight: Array, stride, dilation, padding) -> bool:
    """Whether the convolution of ``x`` by ``weight`` (O, C, KH, KW), or its input gradient
    (``x`` the output gradient), takes Winograd's path: with CLTORCH_WINOGRAD=1, for a 3x3,
    stride-1, undilated kernel, padding at most 2, float32 or float64 on an OpenCL or CUDA
    device. Off by default: on PoCL (one thread) it was no clear win, forward and backward
    of 32x64x56x56 by 64 3x3 filters 816-1004 ms against 815-828 for the implicit GEMM with
    the column path's input gradient, of 16x3x112x112 by 32 402 against 160, of 32x256x14x14
    by 256 416 against 481; forward alone 382 against 176 ms (its transforms and V's packing
    are memory passes the implicit GEMM does not make). No GPU has measured it yet (the
    benchmark's `resnet 3x3 64ch 56px winograd` cases do)."""
    return (config.winograd() is True and x._device.kind != "cpu" and
            x.dtype.name in ("float32", "float64") and tuple(weight._shape[2:]) == (3, 3) and
            tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and max(padding) <= 2 and
            weight._shape[1] > 0)


def convolve(x: Array, weight: Array, bias, padding, out_size, flip=False) -> Array:
    """(N, O, OH * OW), contiguous: ``x`` (N, C, H, W), strided, convolved by ``weight`` (O,
    C, 3, 3), contiguous, with ``padding`` (ph, pw), plus ``bias`` (O,) or None. With
    ``flip``, ``weight`` is (C, O, 3, 3) and the kernel is its transpose, flipped (the input
    gradient of a convolution by it: pass the output gradient as ``x``, padding 2 - p and the
    input's size)."""
    n, c, h, w = x._shape
    o = weight._shape[1 if flip else 0]
    (oh, ow), (ph, pw) = out_size, padding
    th, tw = -(-oh // 2), -(-ow // 2)
    tiles = n * th * tw
    device, compute = x._device, x.dtype.compute
    out = empty(type(x), (n, o, oh * ow), x.dtype, device)
    if not out._numel():
        return out
    from .gemm import bmm
    u = empty(type(x), (16, o, c), compute, device)
    v = empty(type(x), (16, c, tiles), compute, device)
    big = max(x._storage.nbytes, v._storage.nbytes, out._storage.nbytes,
              16 * o * tiles * compute.itemsize) > INT32_LIMIT  # the last: M's, read below
    device.launch(_kernel(device, "weights", x.dtype, big), o * c,
                  [u._storage.buffer, weight._storage.buffer, weight._offset, o, c, int(flip)])
    device.launch(_kernel(device, "input", x.dtype, big), c * tiles,
                  [v._storage.buffer, x._storage.buffer, x._offset, *x._strides, n, c, h, w,
                   ph, pw, th, tw])
    m = bmm(u, v)                                                         # (16, O, tiles)
    b = out if bias is None else bias
    device.launch(_kernel(device, "output", x.dtype, big), o * tiles,
                  [out._storage.buffer, m._storage.buffer, b._storage.buffer, b._offset,
                   0 if bias is None else bias._strides[0], int(bias is not None), n, o, oh,
                   ow, th, tw])
    return out


def _kernel(device, direction, dtype, big):
    idx, cidx = index_types(big)
    head = {"weights": (None, None, idx, idx, idx, np.int32),
            "input": (None, None) + (idx,) * 13,
            "output": (None, None, None, idx, idx, np.int32) + (idx,) * 6}[direction]
    return cached_kernel(device, ("winograd", direction, dtype, big), lambda: (
        winograd_source(DIALECTS[device.kind], dtype, direction, cidx),
        f"winograd_{direction}", head))


def winograd_source(dialect, dtype, direction, index) -> str:
    """Source of one Winograd kernel ("weights", "input", "output") for a dialect (the
    template tests use it)."""
    return render("winograd.mako", dialect, name=f"winograd_{direction}", dtype=dtype,
                  direction=direction, index=index)
