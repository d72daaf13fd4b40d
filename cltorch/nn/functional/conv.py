"""Convolution and pooling over sliding windows: ``unfold`` (im2col) feeds a batched GEMM for
convolutions and a reduction for pooling; ``fold`` (col2im) is its gradient and the core of
transposed convolution. 1-D ops are the 2-D ones on a height-1 image."""
from __future__ import annotations

import math

from ...autograd.grad_mode import no_grad
from ...autograd.graph import needs_grad, record
from ...ops import depthwise, gemm, im2col, pointwise, pool, winograd
from ...ops import reduce as reduce_op, scatter as scatter_op
from ...ops.array import relayout
from .padding import pad as _pad
from ...amp.autocast_mode import LOWER, autocast_op


def _pair(v, n=2):
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"expected {n} values, got {list(v)}")
        return tuple(int(x) for x in v)
    return (int(v),) * n


def _windows(kernel, stride, padding, dilation, out):
    return im2col.Windows(tuple(kernel), tuple(stride), tuple(padding), tuple(dilation),
                          tuple(out))


def _unfold(x, win, pad_value=0.0):
    """im2col.unfold recorded for autograd: its gradient is fold."""
    size = x._shape[2:]
    out = im2col.unfold(x, win, pad_value)
    return record(out, "Im2ColBackward0", (x,), lambda g: _fold(g.contiguous(), size, win))


def _fold(cols, size, win):
    """im2col.fold recorded for autograd: its gradient is unfold."""
    out = im2col.fold(cols, size, win)
    return record(out, "Col2ImBackward0", (cols,), lambda g: _unfold(g, win))


def _out_size(size, kernel, stride, padding, dilation, ceil_mode=False):
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the image or its left padding
    return out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks: (N, C, H, W) -> (N, C*KH*KW, L)."""
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported "
                                  f"(got {input.ndim}D)")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    k, d, p, s = (_pair(v) for v in (kernel_size, dilation, padding, stride))
    out = tuple(_out_size(x.shape[2 + i], k[i], s[i], p[i], d[i]) for i in range(2))
    if min(out) <= 0:
        raise RuntimeError(f"Given input with spatial size {tuple(x.shape[2:])}, kernel_size="
                           f"{k}, dilation={d}, padding={p}, calculated shape of the array of "
                           f"sliding blocks as {out}, but its components must be at least one.")
    cols = _unfold(x, _windows(k, s, p, d, out))
    return cols if input.ndim == 4 else cols.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The inverse of unfold: (N, C*KH*KW, L) -> (N, C, H, W), overlapping values summed."""
    x = input if input.ndim == 3 else input.unsqueeze(0)
    size, k, d, p, s = (_pair(v) for v in (output_size, kernel_size, dilation, padding, stride))
    out = tuple(_out_size(size[i], k[i], s[i], p[i], d[i]) for i in range(2))
    if x.shape[1] % (k[0] * k[1]) or x.shape[2] != out[0] * out[1]:
        raise RuntimeError(f"Given output_size={size}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}, expected size of input's dimension 2 to "
                           f"match the calculated number of sliding blocks {out[0]} * {out[1]} "
                           f"= {out[0] * out[1]}, but got input.size(2)={x.shape[2]}.")
    image = _fold(x.contiguous(), size, _windows(k, s, p, d, out))
    return image if input.ndim == 3 else image.squeeze(0)


def _padding_for(padding, kernel, dilation, stride, dims):
    """Per-side padding ((before, after) per dim) from an int, tuple, 'valid' or 'same'."""
    if padding == "valid":
        return [(0, 0)] * dims
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in totals]
    if isinstance(padding, str):
        raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', "
                         f"'same']")
    pads = _pair(padding, dims)
    if any(p < 0 for p in pads):
        raise RuntimeError("negative padding is not supported")
    return [(p, p) for p in pads]


def _conv(input, weight, bias, stride, padding, dilation, groups, dims):
    """N-d (1 or 2) convolution through unfold and a batched matmul."""
    name = f"conv{dims}d"
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to "
                           f"{name}, but got input of size: {list(input.shape)}")
    if any(s <= 0 for s in _pair(stride, dims)):
        raise RuntimeError("non-positive stride is not supported")
    batched = input.ndim == dims + 2
    x = input if batched else input.unsqueeze(0)
    out_c, in_per_group = weight.shape[:2]
    if x.shape[1] != in_per_group * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, "
                           f"expected input{list(x.shape)} to have {in_per_group * groups} "
                           f"channels, but got {x.shape[1]} channels instead")
    if out_c % groups:
        raise RuntimeError("out_channels must be divisible by groups")
    stride, dilation = _pair(stride, dims), _pair(dilation, dims)
    kernel = tuple(weight.shape[2:])
    sides = _padding_for(padding, kernel, dilation, stride, dims)
    if any(a != b for a, b in sides):  # asymmetric ('same' with an even kernel): pad first
        x = _pad(x, [v for a, b in reversed(sides) for v in (a, b)])
        sides = [(0, 0)] * dims
    pads = tuple(a for a, _ in sides)
    if dims == 1:
        x, kernel, stride, dilation, pads = (x.unsqueeze(2), (1,) + kernel, (1,) + stride,
                                             (1,) + dilation, (0,) + pads)
    size = x.shape[2:]
    out = tuple(_out_size(size[i], kernel[i], stride[i], pads[i], dilation[i]) for i in range(2))
    for i in range(2):
        if size[i] + 2 * pads[i] < dilation[i] * (kernel[i] - 1) + 1:
            raise RuntimeError(f"Calculated padded input size per channel: "
                               f"({' x '.join(str(size[j] + 2 * pads[j]) for j in range(2 - dims, 2))})"
                               f". Kernel size: ({' x '.join(str(kernel[j]) for j in range(2 - dims, 2))}"
                               f"). Kernel size can't be greater than actual input size")
    if x.shape[1] == 0:  # PyTorch's answer for an input without channels: no output channels
        # either; zero gradients for the weight and bias (a zero connected to each)
        zero = sum((t.sum() * 0 for t in (x, weight, bias) if t is not None), 0)
        result = zero.expand((x.shape[0], 0) + (out if dims == 2 else out[1:]))
        return result if batched else result.squeeze(0)
    win = _windows(kernel, stride, pads, dilation, out)
    if (groups == 1 or depthwise.applies(x, weight, groups)) and \
            _plain_operands(x, weight, bias):
        node = _conv_node if groups == 1 else _depthwise_node
        result = node(x, weight, bias, win, (out if dims == 2 else out[1:]))
        return result if batched else result.squeeze(0)
    cols = _unfold(x, win)  # (N, C*K, L)
    n, length = cols.shape[0], cols.shape[2]
    cols = cols.reshape(n, groups, -1, length)
    w = weight.reshape(groups, out_c // groups, -1)
    result = (w.unsqueeze(0) @ cols).reshape((n, out_c) + (out if dims == 2 else out[1:]))
    if bias is not None:
        result = result + bias.reshape((1, -1) + (1,) * dims)
    return result if batched else result.squeeze(0)


def _plain_operands(x, weight, bias) -> bool:
    """The common convolution: one dtype, a 1-D bias of one per output channel or none."""
    return weight.dtype is x.dtype and (bias is None or (
        bias.dtype is x.dtype and bias._shape == weight._shape[:1]))


def _conv_node(x, weight, bias, win, out_shape):
    """An ungrouped convolution as one GEMM per image and one autograd node, as PyTorch's
    ConvolutionBackward0: no view, broadcast or sum nodes around the product, and gradients
    made in their parameters' shapes (so that AccumulateGrad keeps them without a copy)."""
    n, o = x._shape[0], weight._shape[0]
    with no_grad():
        w = weight.contiguous()
        ck = w._numel() // o
        bias_view = None if bias is None else relayout(bias, (1, o, 1), (0, bias._strides[0], 0))
        # a 1x1 convolution's columns are the image itself: a plain GEMM over it (but not
        # on a CPU device, whose packed implicit GEMM does better: PoCL, one thread, 1x1
        # 256->128 of 32x256x28x28 forward and backward, 143 ms so, 170 ms as plain GEMMs);
        # else an implicit GEMM reads the image's windows in place (None: it does not fit)
        plain = x._device.kind == "cpu" or not x._device.cpu_like
        cols, out = im2col.image_columns(x, win) if plain else None, None
        if winograd.applies(x, w, win.stride, win.dilation, win.padding):
            out = winograd.convolve(x, w, bias, win.padding, win.out)
        elif cols is not None:
            out = gemm.bmm(relayout(w, (n, o, ck), (0, ck, 1)), cols, bias_view)
        elif im2col.implicit(x, w, win):
            out = im2col.conv_implicit(x, w, win, bias_view)
        if out is None:
            cols = im2col.unfold(x, win, 0.0)                          # (N, C*K, L)
            out = gemm.bmm(relayout(w, (n, o, ck), (0, ck, 1)), cols, bias_view)  # (N, O, L)
    length = out._shape[2]
    out = relayout(out, (n, o) + tuple(out_shape))
    size = x._shape[2:]

    def wanted(x, weight):
        return x.requires_grad, weight.requires_grad, bias is not None and bias.requires_grad

    def direct(g, x, weight, cols):
        grads = im2col.conv_grads(g.contiguous(), weight.contiguous(), cols, win, size,
                                  wanted(x, weight), x)
        return grads[:3 if bias is not None else 2]

    def backward(g, x, weight, cols):
        # differentiated again: the same products as graph ops, the columns one of x
        want, cols, g = wanted(x, weight), _unfold(x, win), g.reshape(n, o, length)
        return (_fold((weight.reshape(o, ck).t() @ g).contiguous(), size, win)
                if want[0] else None,
                (g @ cols.transpose(1, 2)).sum(0).reshape(weight._shape) if want[1] else None,
                g.sum((0, 2)) if want[2] else None)[:3 if bias is not None else 2]
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return record(out, "ConvolutionBackward0", inputs, backward, saved=(x, weight, cols),
                  direct=direct)


def _depthwise_node(x, weight, bias, win, out_shape):
    """A depthwise convolution (one input channel per group) as one ConvolutionBackward0
    node over depthwise.mako's direct kernels, forward and both gradients (a batched product
    of per-channel matrices a few elements wide, and the columns it needs, otherwise)."""
    n, o, c = x._shape[0], weight._shape[0], x._shape[1]
    taps, length = weight._numel() // o, win.out[0] * win.out[1]
    with no_grad():
        out = depthwise.forward(x, weight.contiguous(),
                                None if bias is None else bias.contiguous(), win)
    out = relayout(out, (n, o) + tuple(out_shape))

    def wanted(x, weight):
        return x.requires_grad, weight.requires_grad, bias is not None and bias.requires_grad

    def direct(g, x, weight):
        want, g, w = wanted(x, weight), g.contiguous(), weight.contiguous()
        return (depthwise.input_grad(g, w, win, x._shape) if want[0] else None,
                depthwise.weight_grad(g, x, w, win) if want[1] else None,
                reduce_op.reduce("sum", relayout(g, (n, o, length)), (0, 2))
                if want[2] else None)[:3 if bias is not None else 2]

    def backward(g, x, weight):  # differentiated again: graph ops over x's columns
        want, g4 = wanted(x, weight), g.reshape(n, c, o // c, length)
        cols = _unfold(x, win).reshape(n, c, taps, length)
        return ((_fold((weight.reshape(c, o // c, taps).transpose(1, 2).unsqueeze(0) @ g4)
                       .reshape(n, c * taps, length).contiguous(), x._shape[2:], win)
                 if want[0] else None),
                (g4 @ cols.transpose(2, 3)).sum(0).reshape(weight._shape) if want[1] else None,
                g4.sum((0, 3)).reshape(o) if want[2] else None)[:3 if bias is not None else 2]
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return record(out, "ConvolutionBackward0", inputs, backward, saved=(x, weight),
                  direct=direct)


@autocast_op(LOWER)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of (N, C, L) with weight (O, C/groups, K)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


@autocast_op(LOWER)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of (N, C, H, W) with weight (O, C/groups, KH, KW)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    dims, output_size=None):
    """The gradient of a convolution w.r.t. its input, as a layer: columns W^T x, folded."""
    batched = input.ndim == dims + 2
    x = input if batched else input.unsqueeze(0)
    in_c, out_per_group = weight.shape[:2]
    if x.shape[1] != in_c:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected "
                           f"input{list(x.shape)} to have {in_c} channels, but got "
                           f"{x.shape[1]} channels instead")
    stride, padding, dilation, output_padding = (_pair(v, dims) for v in (
        stride, padding, dilation, output_padding))
    kernel = tuple(weight.shape[2:])
    size = tuple(x.shape[2:])
    out = [(size[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1) +
           output_padding[i] + 1 for i in range(dims)]
    if output_size is not None:
        out = list(output_size)[-dims:]
    for i in range(dims):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise RuntimeError("output padding must be smaller than either stride or dilation, "
                               f"but got output_padding_height: {output_padding[0]} ...")
    n = x.shape[0]
    length = math.prod(size)
    cols = weight.reshape(groups, in_c // groups, -1).transpose(1, 2).unsqueeze(0) @ \
        x.reshape(n, groups, in_c // groups, length)                  # (N, g, Co/g*K, L)
    cols = cols.reshape(n, -1, length)
    if dims == 1:
        kernel, stride, padding, dilation, size, out = ((1,) + kernel, (1,) + stride,
                                                        (0,) + padding, (1,) + dilation,
                                                        (1,) + size, [1] + out)
    image = _fold(cols.contiguous(), tuple(out), _windows(kernel, stride, padding, dilation,
                                                          size))
    if dims == 1:
        image = image.squeeze(2)
    if bias is not None:
        image = image + bias.reshape((1, -1) + (1,) * dims)
    return image if batched else image.squeeze(0)


@autocast_op(LOWER)
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1)


@autocast_op(LOWER)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2)


def _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode, dims, name):
    kernel = _pair(kernel_size, dims)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride, dims)
    padding, dilation = _pair(padding, dims), _pair(dilation, dims)
    if any(s == 0 for s in stride):
        raise RuntimeError("stride should not be zero")
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"kernel_size must be greater than zero, but got {kernel_size}")
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    if dims == 1:
        kernel, stride, padding, dilation = ((1,) + kernel, (1,) + stride, (0,) + padding,
                                             (1,) + dilation)
    size = x.shape[2:]
    out = tuple(_out_size(size[i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
                for i in range(2))
    if min(out) <= 0:
        raise RuntimeError(f"Given input size: ({x.shape[1]}x{size[0]}x{size[1]}). Calculated "
                           f"output size: ({x.shape[1]}x{out[0]}x{out[1]}). Output size is too "
                           f"small")
    return _windows(kernel, stride, padding, dilation, out)


def _as_planes(input, dims, name):
    """(N, C, [H,] W) or unbatched -> (N*C, 1, H, W) planes, and a function restoring the
    leading dims on a (N*C, L) result."""
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{name}: Expected {dims + 1}D or {dims + 2}D input, but got "
                           f"{input.ndim}D")
    lead = tuple(input.shape[:-dims])
    planes = input.reshape((-1, 1) + tuple(input.shape[-dims:]))
    if dims == 1:
        planes = planes.unsqueeze(2)
    return planes, lead


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims):
    name = f"max_pool{dims}d"
    with no_grad():
        planes, lead = _as_planes(input, dims, name)
        win = _pool_windows(planes, kernel_size, stride, padding, dilation, ceil_mode, dims,
                            name)
    return _window_max(input, planes, lead, win, dims, return_indices,
                       "MaxPool2DWithIndicesBackward0")


def _window_max(input, planes, lead, win, dims, return_indices, node):
    """Max pooling (``win``: regular windows or adaptive cells) as one autograd node
    (PyTorch's MaxPool2DWithIndicesBackward0 or AdaptiveMaxPool2DBackward0): the max of each
    window and its position in the plane; the backward adds the gradient into those
    positions (one scatter, no window-sized buffer to fold)."""
    out_shape = lead + (win.out if dims == 2 else win.out[1:])
    grad = needs_grad((input,))
    values, positions = pool.window_max(planes, win, grad or return_indices)  # (P, L)
    values = relayout(values, out_shape)
    if positions is None:  # the maxima alone
        return values
    height, width = planes._shape[2:]
    if grad:
        shape, area = input._shape, height * width

        def direct(g, positions):
            if win.disjoint and g._device.kind != "cpu":
                return relayout(pool.window_max_grad(g.reshape(positions._shape), positions,
                                                     win, (height, width)), shape)
            planes_grad = pointwise.full(type(g), (positions._shape[0], area), g.dtype,
                                         g._device, 0)
            # disjoint windows give each position one maximum at most: a plain store
            scatter_op.scatter(planes_grad, 1, positions, g.reshape(positions._shape),
                               "set" if win.disjoint else "add", checked=True)
            return relayout(planes_grad, shape)

        def backward(g, positions):  # differentiated again: a graph op (its gradient gathers)
            planes_grad = g.new_zeros((positions._shape[0], area))
            return planes_grad.scatter_add(1, positions, g.reshape(positions._shape)).reshape(
                shape)
        record(values, node, (input,), backward, saved=(positions,), direct=direct)
    return (values, relayout(positions, out_shape)) if return_indices else values


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 1)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 2)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, dims):
    name = f"avg_pool{dims}d"
    if input.ndim in (dims + 1, dims + 2) and input._device.kind != "cpu" and \
            input.dtype.is_floating_point:
        with no_grad():  # a device: the direct kernels, one node
            planes, lead = _as_planes(input, dims, name)
            win = _pool_windows(planes, kernel_size, stride, padding, 1, ceil_mode, dims, name)
        mean = _MeanWindows(win, bool(count_include_pad), divisor_override, planes._shape,
                            lead + (win.out if dims == 2 else win.out[1:]), input._shape)
        return mean.forward(input)
    planes, lead = _as_planes(input, dims, name)
    win = _pool_windows(planes, kernel_size, stride, padding, 1, ceil_mode, dims, name)
    total = _unfold(planes, win).sum(1)                   # (P, L)
    if divisor_override:
        divisor = divisor_override
    else:  # how many window positions count: inside the padded image, or the image itself
        from ...api.creation import ones
        (ph, pw), h, w = win.padding, planes.shape[2], planes.shape[3]
        if count_include_pad:
            grid = ones(1, 1, h + 2 * ph, w + 2 * pw, dtype=planes.dtype, device=planes.device)
            shifted = _windows(win.kernel, win.stride, (0, 0), win.dilation, win.out)
            divisor = im2col.unfold(grid, shifted).sum(1)
        else:
            grid = ones(1, 1, h, w, dtype=planes.dtype, device=planes.device)
            divisor = im2col.unfold(grid, win).sum(1)
    out = total / divisor
    return out.reshape(lead + (win.out if dims == 2 else win.out[1:]))


class _MeanWindows:
    """Average pooling on an OpenCL or CUDA device, or over adaptive pooling's cells on any, as
    PyTorch's AvgPool2DBackward0 (AdaptiveAvgPool2DBackward0) node: pool.window_mean
    forward, window_mean_grad backward (each a direct kernel, no columns); each records the
    other as its gradient, so that it differentiates any number of times."""

    def __init__(self, win, include_pad, override, planes, out_shape, in_shape,
                 node="AvgPool2DBackward0"):
        self.args = (win, include_pad, override)
        self.planes, self.out_shape, self.in_shape = planes, out_shape, in_shape
        self.node = node

    def forward(self, x):
        with no_grad():
            planes = relayout(x.contiguous(), self.planes)
            out = relayout(pool.window_mean(planes, *self.args), self.out_shape)
        return record(out, self.node, (x,), self.backward, direct=self._grad)

    def backward(self, g):
        with no_grad():
            grad = self._grad(g)
        return record(grad, "AvgPool2DBackwardBackward0", (g,), self.forward,
                      direct=self.forward)

    def _grad(self, g):
        g = g.contiguous()
        flat = relayout(g, (self.planes[0], g._numel() // self.planes[0]))
        return relayout(pool.window_mean_grad(flat, self.planes[2:], *self.args),
                        self.in_shape)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)


def _adaptive(input, output_size, dims, name, regular, cells):
    """Adaptive pooling: output cell i covers [floor(i*S/O), ceil((i+1)*S/O)). Regular
    windows (``regular(input, kernel)``) when S is a multiple of O, else the cells
    themselves (``cells(planes, lead, win)``: pooling kernels that read each cell's range)."""
    if dims == 2 and input.ndim < 3:
        raise ValueError("Input dimension should be at least 3")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{name}(): Expected 3D or 4D tensor, but got {list(input.shape)}"
                           if dims == 2 else f"Expected 2 to 3 dimensions, but got "
                           f"{input.ndim}-dimensional tensor for argument #1 'self' (while "
                           f"checking arguments for {name})")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"{name}" not implemented for \'{input.dtype.legacy_name}\'')
    for i in range(input.ndim - dims, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(f"{name}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {list(input.shape)} with "
                               f"dimension {i} being empty")
    size = tuple(input.shape[-dims:])
    out = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * dims
    if len(out) != dims:
        raise RuntimeError(f"{name}(): internal error: output_size.size() must be {dims}")
    out = tuple(s if o is None else int(o) for o, s in zip(out, size))  # None: the input's
    if any(o < 0 for o in out):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(out)}: "
                           f"{list(input.shape[:-dims]) + list(out)}")
    if all(o and s % o == 0 for s, o in zip(size, out)):
        return regular(input, tuple(s // o for s, o in zip(size, out)))
    with no_grad():
        planes, lead = _as_planes(input, dims, name)
    win = im2col.Windows.cells(planes._shape[2:], ((1,) + out) if dims == 1 else out)
    return cells(planes, lead, win)


def _adaptive_avg(input, output_size, dims):
    name = f"adaptive_avg_pool{dims}d"
    pool = avg_pool1d if dims == 1 else avg_pool2d

    def cells(planes, lead, win):
        mean = _MeanWindows(win, True, None, planes._shape,
                            lead + (win.out if dims == 2 else win.out[1:]), input._shape,
                            "AdaptiveAvgPool2DBackward0")
        return mean.forward(input)
    return _adaptive(input, output_size, dims, name, lambda x, k: pool(x, k, k), cells)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(input, output_size, 1)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg(input, output_size, 2)


def _adaptive_max(input, output_size, return_indices, dims):
    pool = max_pool1d if dims == 1 else max_pool2d
    return _adaptive(
        input, output_size, dims, f"adaptive_max_pool{dims}d",
        lambda x, k: pool(x, k, k, return_indices=return_indices),
        lambda planes, lead, win: _window_max(input, planes, lead, win, dims, return_indices,
                                              "AdaptiveMaxPool2DBackward0"))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(input, output_size, return_indices, 1)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max(input, output_size, return_indices, 2)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Put pooled values back at the flat positions max_pool2d(return_indices=True) gave."""
    kernel = _pair(kernel_size)
    stride = kernel if stride is None else _pair(stride)
    padding = _pair(padding)
    h, w = input.shape[-2:]
    if output_size is None:
        out = ((h - 1) * stride[0] - 2 * padding[0] + kernel[0],
               (w - 1) * stride[1] - 2 * padding[1] + kernel[1])
    else:
        out = tuple(output_size)[-2:]
    lead = tuple(input.shape[:-2])
    flat = input.reshape(lead + (-1,))
    result = flat.new_zeros(lead + (out[0] * out[1],)).scatter(
        len(lead), indices.reshape(lead + (-1,)), flat)
    return result.reshape(lead + out)


CONV = {f.__name__: f for f in (
    unfold, fold, conv1d, conv2d, conv_transpose1d, conv_transpose2d, max_pool1d, max_pool2d,
    avg_pool1d, avg_pool2d, adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d,
    adaptive_max_pool2d, max_unpool2d)}
