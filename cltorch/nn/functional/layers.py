"""The functional forms of the other layers: linear maps, dropout, embeddings, normalisation,
resampling and attention, composed from the op library."""
from __future__ import annotations

import math

import numpy as np

from ... import dtypes
from ...autograd.grad_mode import no_grad
from ...autograd.graph import record
from ...api.gemm import linear
from ...api.pointwise import FUNCTIONS
from ...api.reduce import cosine_similarity
from ...ops import norm
from ...ops.check import check_values
from ...api.random import bernoulli
from .activation import _inplace
from ...amp.autocast_mode import FLOAT32_GPU, LOWER, autocast_op

_where = FUNCTIONS["where"]


def bilinear(input1, input2, weight, bias=None):
    """``out[..., o] = x1 @ weight[o] @ x2 + bias[o]``."""
    left = (input1.unsqueeze(-2).unsqueeze(-2) @ weight).squeeze(-2)   # (..., out, in2)
    out = (left * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout_mask(shape, p, like):
    keep = bernoulli(like.new_full(shape, 1 - p))
    return keep / (1 - p) if p < 1 else keep


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training)."""
    _check_p(p)
    if not training or p == 0:
        return input
    mask = _dropout_mask(tuple(input.shape), p, input)
    return _inplace(input, lambda x: x * mask, inplace)


def _channel_dropout(input, p, training, inplace, spatial):
    _check_p(p)
    if not training or p == 0:
        return input
    batched = input.ndim == spatial + 2
    shape = tuple(input.shape[:2 if batched else 1]) + (1,) * spatial
    mask = _dropout_mask(shape, p, input)
    return _inplace(input, lambda x: x * mask, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, inplace, 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, inplace, 2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, inplace, 3)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's mean and variance: dropped values become -alpha*scale, then
    an affine correction."""
    _check_p(p)
    if not training or p == 0:
        return input
    alpha = -1.7580993408473766
    keep = bernoulli(input.new_full(tuple(input.shape), 1 - p))
    a = ((1 - p) * (1 + p * alpha ** 2)) ** -0.5
    b = -a * alpha * p
    return _inplace(input, lambda x: (x * keep + alpha * (1 - keep)) * a + b, inplace)


def one_hot(tensor, num_classes=-1):
    """(..., ) int64 class indices -> (..., num_classes) int64 one-hot."""
    from ...api.creation import arange
    if tensor.dtype is not dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    check_values(tensor, 0, math.inf, RuntimeError, "Class values must be non-negative.")
    check_values(tensor, -math.inf, num_classes - 1, RuntimeError,
                 "Class values must be smaller than num_classes.")
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    from ...api.reduce import vector_norm
    result = input / vector_norm(input, p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return result if out is None else out.copy_(result)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by the indices in ``input``; the ``padding_idx`` row gets no
    gradient; with ``max_norm`` the picked rows are renormalised in place first."""
    if scale_grad_by_freq:
        raise NotImplementedError("embedding(scale_grad_by_freq=True) is not supported by "
                                  "cltorch yet")
    if getattr(input, "dtype", None) is not None and input.dtype not in (dtypes.int64,
                                                                         dtypes.int32):
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got "
                           f"torch.{input.dtype.legacy_name}Tensor instead (while checking "
                           f"arguments for embedding)")
    if padding_idx is not None:
        padding_idx = padding_idx + weight.shape[0] if padding_idx < 0 else padding_idx
    if max_norm is not None:
        _renorm(weight, input, max_norm, norm_type)
    w = weight
    if padding_idx is not None and weight.requires_grad:
        keep = weight.new_ones((weight.shape[0], 1))
        keep[padding_idx] = 0.0
        w = weight * keep + (weight * (1 - keep)).detach()  # the padding row is a constant
    flat = w.index_select(0, input.reshape(-1))
    return flat.reshape(tuple(input.shape) + (weight.shape[1],))


def _renorm(weight, input, max_norm, norm_type):
    from ...api.reduce import vector_norm
    with no_grad():
        rows = input.reshape(-1).unique()
        picked = weight.index_select(0, rows)
        norms = vector_norm(picked, norm_type, dim=1, keepdim=True)
        scale = _where(norms > max_norm, max_norm / (norms + 1e-7), norms * 0 + 1)
        weight.index_copy_(0, rows, picked * scale)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sum, mean or max of the embeddings of each bag: rows of a 2-D ``input``, or the runs
    of a 1-D ``input`` that ``offsets`` start."""
    from ...api.creation import arange
    from ...api.layout import cat
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode}")
    if input.ndim == 2:
        bags, length = input.shape
        offsets = arange(0, bags * length, length, device=input.device)
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    starts = offsets.tolist()
    if include_last_offset:
        starts, end = starts[:-1], starts[-1]
    else:
        end = input.numel()
    vectors = embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq)
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError("embedding_bag: per_sample_weights was not None. "
                                      "per_sample_weights is only supported for mode='sum'")
        vectors = vectors * per_sample_weights.unsqueeze(1)
    keep = (input != padding_idx).to(weight.dtype).unsqueeze(1) if padding_idx is not None \
        else None
    rows = []
    for a, b in zip(starts, starts[1:] + [end]):
        part = vectors[a:b]
        if b == a:
            rows.append(weight.new_zeros((1, weight.shape[1])))
        elif mode == "sum":
            rows.append(part.sum(0, keepdim=True))
        elif mode == "mean":
            count = keep[a:b].sum() if keep is not None else b - a
            rows.append(part.sum(0, keepdim=True) / count)
        else:
            rows.append(part.amax(0, keepdim=True))
    return cat(rows, 0)


def _norm_shape(x, num_features):
    return (1, num_features) + (1,) * (x.ndim - 2)


def _channel_affine(out, weight, bias):
    """``out * weight + bias`` with one weight and bias per channel (dim 1)."""
    shape = _norm_shape(out, out.shape[1])
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) with the batch statistics (training, updating the
    running ones) or the running statistics (eval)."""
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(input.shape)}")
        mean = input.mean(dims)
        var = input.var(dims, correction=0)
        if running_mean is not None:
            with no_grad():
                m = 0.1 if momentum is None else momentum
                running_mean.mul_(1 - m).add_(mean.detach() * m)
                running_var.mul_(1 - m).add_(var.detach() * (m * count / (count - 1)))
    else:
        mean, var = running_mean, running_var
    shape = _norm_shape(input, input.shape[1])
    out = (input - mean.reshape(shape)) / (var.reshape(shape) + eps).sqrt()
    return _channel_affine(out, weight, bias)


def _normalized_dims(input, normalized_shape) -> tuple:
    """The trailing dims that ``normalized_shape`` names, checked against the input."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(normalized_shape)
    if tuple(input.shape[-len(normalized_shape):]) != normalized_shape:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input "
                           f"with shape [*, {', '.join(map(str, normalized_shape))}], but got "
                           f"input of size{list(input.shape)}")
    return tuple(range(input.ndim - len(normalized_shape), input.ndim))


@autocast_op(FLOAT32_GPU)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims (one fused kernel, and one for
    the input gradient: ``ops/norm.py``)."""
    dims = _normalized_dims(input, normalized_shape)
    if _fusable(input, weight, bias, dims):
        return _fused_layer_norm(input, dims, weight, bias, eps)
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, correction=0, keepdim=True)
    out = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _fusable(input, weight, bias, dims) -> bool:
    """The fused kernels take floating input and a weight and bias of its dtype and of the
    normalised shape; anything else goes the composed way (PyTorch's promotions, errors)."""
    shape = tuple(input.shape[d] for d in dims)
    return input.dtype.is_floating_point and input.dtype.category == 2 and all(
        t is None or (t.dtype is input.dtype and tuple(t.shape) == shape and
                      t.device == input.device) for t in (weight, bias))


def _plain(t):
    """``t`` contiguous from its storage's start (the kernels index from 0), or None."""
    if t is None or (t.is_contiguous() and not t._offset):
        return t
    return t.clone() if t.is_contiguous() else t.contiguous()


def _fused_layer_norm(input, dims, weight, bias, eps):
    n = math.prod(input.shape[d] for d in dims)
    x = input.contiguous()
    with no_grad():
        out, mean, rstd = norm.layer_norm(x, _plain(weight), _plain(bias), n, float(eps))
    lead = tuple(range(input.ndim - len(dims)))

    def direct(g, x, mean, rstd, w):
        dx, gx = norm.layer_norm_backward(_plain(g), x, mean, rstd, _plain(w), n,
                                          w is not None and w.requires_grad)
        dw = gx.sum(lead).to(w.dtype) if gx is not None else None
        db = g.sum(lead) if bias is not None and bias.requires_grad else None
        return dx, dw, db

    def differentiable(g, x, mean, rstd, w):  # recomputed from x, so that it has a gradient
        rs = (x.var(dims, correction=0, keepdim=True) + eps).rsqrt()
        xh = (x - x.mean(dims, keepdim=True)) * rs
        dy = g * w if w is not None else g
        dx = rs * (dy - dy.mean(dims, keepdim=True) - xh * (dy * xh).mean(dims, keepdim=True))
        return (dx, (g * xh).sum(lead) if w is not None else None,
                g.sum(lead) if bias is not None else None)
    return record(out, "NativeLayerNormBackward0", (input, weight, bias), differentiable,
                  saved=(x, mean, rstd, weight), direct=direct)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last ``len(normalized_shape)`` dims;
    ``eps`` defaults to the dtype's machine epsilon, as in PyTorch."""
    dims = _normalized_dims(input, normalized_shape)
    if eps is None:
        eps = float(np.finfo(np.float32 if input.dtype.itemsize < 4 else
                             input.dtype.storage_np).eps)
    out = input * (input.pow(2).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Samples of the Gumbel-softmax distribution; ``hard`` gives one-hot samples with the
    soft sample's gradient (straight-through)."""
    from ...api.random import rand
    uniform = rand(tuple(logits.shape), dtype=logits.dtype, device=logits.device)
    gumbels = -(-(uniform.clamp(min=1e-20)).log()).log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = logits.new_zeros(tuple(logits.shape)).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


@autocast_op(FLOAT32_GPU)
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of channels of each sample."""
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    grouped = input.reshape(n, num_groups, -1)
    mean = grouped.mean(2, keepdim=True)
    var = grouped.var(2, correction=0, keepdim=True)
    out = ((grouped - mean) / (var + eps).sqrt()).reshape(input.shape)
    return _channel_affine(out, weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims."""
    n, c = input.shape[:2]
    if use_input_stats:
        folded = input.reshape((1, n * c) + tuple(input.shape[2:]))
        rm = running_mean.repeat(n) if running_mean is not None else None
        rv = running_var.repeat(n) if running_var is not None else None
        out = batch_norm(folded, rm, rv, None, None, True, momentum, eps).reshape(input.shape)
        if running_mean is not None:
            with no_grad():
                running_mean.copy_(rm.reshape(n, c).mean(0))
                running_var.copy_(rv.reshape(n, c).mean(0))
    else:
        out = batch_norm(input, running_mean, running_var, None, None, False, momentum, eps)
    return _channel_affine(out, weight, bias)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide by (k + alpha/size * sum of squares over ``size`` neighbouring channels)^beta."""
    from .conv import avg_pool2d
    from .padding import pad
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} "
                         f"dimensions)")
    n, c = input.shape[:2]
    squares = (input * input).reshape(n, 1, c, -1)
    squares = pad(squares, (0, 0, size // 2, (size - 1) // 2))
    average = avg_pool2d(squares, (size, 1), stride=1).reshape(input.shape)
    return input / (k + alpha * average).pow(beta)


def pixel_shuffle(input, upscale_factor):
    """(*, C*r^2, H, W) -> (*, C, H*r, W*r)."""
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    k = len(lead)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r^2, H, W)."""
    r = downscale_factor
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by "
                           f"downscale_factor, but got {h} and {w}")
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    k = len(lead)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _source_positions(out_size, in_size, scale, align_corners, nearest):
    """Where each output position reads the input; ``nearest`` is False, "nearest" or
    "nearest-exact" (pixel centres: PyTorch's and PIL's rounding)."""
    from ...api.creation import arange
    positions = arange(out_size, dtype=dtypes.float32)
    if nearest:
        step = (1.0 / scale) if scale else in_size / out_size
        offset = 0.5 if nearest == "nearest-exact" else 0.0
        return ((positions + offset) * step).floor().clamp(max=in_size - 1).long()
    if align_corners:
        step = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return positions * step
    step = (1.0 / scale) if scale else in_size / out_size
    return ((positions + 0.5) * step - 0.5).clamp(min=0)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims: 'nearest' and 'nearest-exact' (1-D/2-D), 'linear' (1-D) and
    'bilinear' (2-D)."""
    dims = input.ndim - 2
    if antialias:
        raise NotImplementedError("interpolate(antialias=True) is not supported by cltorch yet")
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate mode '{mode}' is not supported by cltorch yet")
    nearest = mode if mode.startswith("nearest") else False
    if nearest and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    in_sizes = tuple(input.shape[2:])
    scales = (scale_factor if isinstance(scale_factor, (tuple, list)) else
              (scale_factor,) * dims) if scale_factor is not None else (None,) * dims
    sizes = (tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims) \
        if size is not None else tuple(int(math.floor(s * f)) for s, f in zip(in_sizes, scales))
    if recompute_scale_factor:
        scales = (None,) * dims
    out = input
    for k in range(dims):
        d = 2 + k
        n_in, n_out = in_sizes[k], sizes[k]
        pos = _source_positions(n_out, n_in, scales[k], align_corners, nearest)
        pos = pos.to(input.device)
        if nearest:
            out = out.index_select(d, pos)
            continue
        low = pos.floor().long().clamp(max=n_in - 1)
        high = (low + 1).clamp(max=n_in - 1)
        frac = (pos - low.to(pos.dtype)).to(input.dtype)
        frac = frac.reshape((-1,) + (1,) * (input.ndim - 1 - d))
        out = out.index_select(d, low) * (1 - frac) + out.index_select(d, high) * frac
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


@autocast_op(LOWER)
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(q k^T * scale + mask) v; a bool mask keeps True positions, a float mask adds."""
    from ...api.creation import ones
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        attn_mask = ones(query.shape[-2], key.shape[-2], dtype=dtypes.bool_,
                         device=query.device).tril()
    if attn_mask is not None:
        if attn_mask.dtype is dtypes.bool_:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = scores.softmax(-1)
    if dropout_p:
        weights = dropout(weights, dropout_p, True)
    return weights @ value


LAYERS = {f.__name__: f for f in (
    linear, bilinear, dropout, dropout1d, dropout2d, dropout3d, alpha_dropout, one_hot,
    normalize, embedding, embedding_bag, batch_norm, layer_norm, rms_norm, group_norm,
    instance_norm, gumbel_softmax,
    local_response_norm, pixel_shuffle, pixel_unshuffle, interpolate, upsample,
    scaled_dot_product_attention, cosine_similarity)}
