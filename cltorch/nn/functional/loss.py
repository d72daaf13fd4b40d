"""Loss functions with PyTorch's ``reduction`` ('none' | 'mean' | 'sum'), weights and target
conventions, composed from the op library."""
from __future__ import annotations

import math
import warnings

import numpy as np

from ... import dtypes
from ...api.pointwise import FUNCTIONS
from ...autograd.grad_mode import no_grad
from ...autograd.graph import record
from ...ops import cross_entropy as ce_op, gather as gather_op, scatter as scatter_op
from ...ops.array import adopt_values, cpu_view, quietly
from ...ops.check import check_values
from ...api.softmax import log_softmax
from .activation import logsigmoid
from ...amp.autocast_mode import FLOAT32, autocast_op

_where = FUNCTIONS["where"]


def _reduction(size_average, reduce, reduction):
    """The reduction the legacy ``size_average``/``reduce`` arguments mean."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    warnings.warn("size_average and reduce args will be deprecated, please use reduction="
                  f"'{'mean' if size_average else 'sum'}' instead.", stacklevel=3)
    return ("mean" if size_average else "sum") if reduce else "none"


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _same_size(input, target, name):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due to "
                      f"broadcasting. Please ensure they have the same size.", stacklevel=3)


@autocast_op(FLOAT32)
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _same_size(input, target, "mse_loss")
    loss = (input - target) ** 2
    return _reduce(loss if weight is None else loss * weight,
                   _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _same_size(input, target, "l1_loss")
    return _reduce((input - target).abs(), _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    _same_size(input, target, "smooth_l1_loss")
    d = (input - target).abs()
    loss = d if beta == 0 else _where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _same_size(input, target, "huber_loss")
    d = (input - target).abs()
    loss = _where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(loss if weight is None else loss * weight, reduction)


def _class_view(weight, ndim):
    """A per-class weight shaped to broadcast over (N, C, d1, ...)."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2)) if ndim >= 2 else weight


@autocast_op(FLOAT32)
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[n, target[n]] (times the class weight); targets equal to ``ignore_index`` count
    for nothing; 'mean' divides by the total weight of the counted targets."""
    reduction = _reduction(size_average, reduce, reduction)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    if target.dtype.category != 1:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.legacy_name}")
    if input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({target.shape[0]}).")
    classes = input.shape[1]
    rows = weight is None and input.ndim == 2 and reduction in ("none", "sum", "mean")
    if rows and target.ndim == 1 and input._storage.device.kind == "cpu" and \
            target._storage.device.kind == "cpu":
        return _nll_rows(input, *_nll_numpy(input, target, ignore_index, reduction))
    target = target.long()
    ignored = target == ignore_index
    safe = target.masked_fill(ignored, 0)
    check_values(safe, 0, classes - 1, IndexError, _BOUNDS)
    if rows:
        return _nll_rows(input, *_nll_parts(input, safe, ignored, reduction))
    picked = -input.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = (weight.to(input.dtype).index_select(0, safe.reshape(-1)).reshape(safe.shape)
         if weight is not None else picked.new_ones(picked.shape)).masked_fill(ignored, 0.0)
    loss = picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / w.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


_BOUNDS = "Target {value} is out of bounds."


def _nll_parts(input, safe, ignored, reduction):
    """(loss, valid, index, total) of nll_loss over (N, C) rows without class weights, from
    the ops: the loss reduced as asked, each row's weight (0 where ignored), its target column
    and, for 'mean', the count of rows counted, at least 1: with every target ignored the
    loss is 0 / 0 (NaN) but the gradient 0, as in PyTorch."""
    index = safe.unsqueeze(1)  # range-checked by the caller: read without a second check
    with no_grad():
        valid = ignored.logical_not().to(input.dtype)
        loss = -gather_op.gather(input, 1, index, index._shape, checked=True).squeeze(1) * valid
        total = valid.sum() if reduction == "mean" else None
        if reduction != "none":
            loss = loss.sum() if total is None else loss.sum() / total
    return loss, valid, index, None if total is None else total.clamp_min(1)


def _nll_numpy(input, target, ignore_index, reduction):
    """``_nll_parts`` on the cpu, in NumPy: a dozen small ops become a few array calls."""
    t = target.dtype.to_numpy_values(cpu_view(target)).astype(np.int64, copy=False)
    ignored = t == ignore_index
    safe = np.where(ignored, 0, t)
    if safe.size and (safe.min() < 0 or safe.max() >= input._shape[1]):
        check_values(target.masked_fill(target == ignore_index, 0), 0, input._shape[1] - 1,
                     IndexError, _BOUNDS)
    dt, device, cls = input.dtype, input._storage.device, type(input)
    x = dt.to_numpy_values(cpu_view(input)).astype(dt.compute.numpy, copy=False)
    valid = (~ignored).astype(x.dtype)
    loss = -x[np.arange(len(safe)), safe] * valid
    total = valid.sum() if reduction == "mean" else None
    if reduction != "none":  # all ignored: 0 / 0, NaN as in PyTorch
        loss = loss.sum() if total is None else quietly(np.divide, loss.sum(), total)

    def tensor(values, dtype=dt):
        return adopt_values(cls, device, values, dtype, np.shape(values))
    return (tensor(loss), tensor(valid), tensor(safe.reshape(-1, 1), dtypes.int64),
            None if total is None else tensor(np.maximum(total, 1)))


def _nll_rows(input, loss, valid, index, total):
    """nll_loss of (N, C) rows as one autograd node (PyTorch's NllLossBackward0): the
    backward scatters the scaled gradient to the targets."""
    shape = input.shape

    def scale(g, valid):
        return (-g * valid if total is None else -g * valid / total).unsqueeze(1)

    def direct(g, valid):
        grad = g.new_zeros(shape)
        scatter_op.scatter(grad, 1, index, scale(g, valid), "set", checked=True)
        return grad

    def backward(g, valid):  # differentiated again: a graph op
        return g.new_zeros(shape).scatter(1, index, scale(g, valid))
    return record(loss, "NllLossBackward0", (input,), backward, saved=(valid,), direct=direct)


@autocast_op(FLOAT32)
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 for one sample) then NLL; ``target`` holds class indices
    or class probabilities (same shape as ``input``)."""
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if _fused_rows(input, target, weight, label_smoothing, reduction):
        return _fused_cross_entropy(input, target, ignore_index, reduction)
    dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, dim)
    classes = input.shape[dim]
    if target.dtype.is_floating_point:  # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError("Expected target size to be the same as input size for "
                               "probability targets")
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        terms = logp * target
        if weight is not None:
            terms = terms * _class_view(weight.to(input.dtype), input.ndim if dim else 2)
        loss = -terms.sum(dim)
        if reduction == "mean":
            return loss.sum() / (loss.numel() if dim else 1)
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if not label_smoothing:
        return nll
    one = logp if dim else logp.unsqueeze(0)
    t = target if dim else target.unsqueeze(0)
    ignored = (t == ignore_index).unsqueeze(1)
    terms = one if weight is None else one * _class_view(weight.to(input.dtype), one.ndim)
    smooth = -terms.masked_fill(ignored, 0.0).sum(1)
    if reduction == "mean":
        if weight is None:
            smooth = smooth.sum() / (~ignored).sum()
        else:
            safe = t.masked_fill(t == ignore_index, 0)
            smooth = smooth.sum() / weight.to(input.dtype)[safe.reshape(-1)].masked_fill(
                (t == ignore_index).reshape(-1), 0.0).sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    elif not dim:
        smooth = smooth.squeeze(0)
    return (1 - label_smoothing) * nll + label_smoothing / classes * smooth


def _fused_rows(input, target, weight, label_smoothing, reduction) -> bool:
    """The fused kernels (ops/cross_entropy.py) take (N, C) floating logits on a kernel device
    against (N,) class indices on it, without class weights or label smoothing; anything else
    goes the composed way (and its errors)."""
    return (weight is None and not label_smoothing and input.ndim == 2 and target.ndim == 1
            and input.dtype.category == 2 and target.dtype.category == 1
            and input._storage.device.kind != "cpu" and target.device == input.device
            and target.shape[0] == input.shape[0] and reduction in ("none", "sum", "mean"))


def _fused_cross_entropy(input, target, ignore_index, reduction):
    """cross_entropy of (N, C) rows: the rows' losses, the target check and which targets
    count in one kernel (plus the reduction), the input gradient in one, as one autograd node
    (PyTorch's top node, NllLossBackward0). 'mean' divides by the count of targets not
    ignored (all ignored: 0 / 0, NaN, with a zero gradient, as in PyTorch)."""
    x, t = input.contiguous(), target.long().contiguous()
    with no_grad():
        rows, lse, valid = ce_op.cross_entropy_rows(x, t, ignore_index, (IndexError, _BOUNDS))
        total = valid.sum() if reduction == "mean" else None
        loss = rows if reduction == "none" else rows.sum()
        if total is not None:  # in the compute type, the result in the input's
            loss = (loss.to(lse.dtype) / total).to(input.dtype)

    def scale(g, valid):  # each row's share of the output gradient, 0 where ignored
        s = valid * g.to(valid.dtype)
        return s if total is None else s / total.clamp_min(1)

    def direct(g, x, t, lse, valid):
        return (ce_op.cross_entropy_rows_backward(x, t, lse, valid, g, total, ignore_index),)

    def differentiable(g, x, t, lse, valid):  # softmax minus the one-hot targets, graph ops
        hot = x.new_zeros(x.shape).scatter(1, t.masked_fill(valid == 0, 0).unsqueeze(1),
                                           valid.to(x.dtype).unsqueeze(1))
        return ((x.softmax(1) - hot) * scale(g, valid).to(x.dtype).unsqueeze(1),)
    return record(loss, "NllLossBackward0", (input,), differentiable, saved=(x, t, lse, valid),
                  direct=direct)


@autocast_op(FLOAT32)
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(t log x + (1 - t) log(1 - x)), each log clamped at -100 as in PyTorch."""
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         f"size.")
    for name, values in (("input", input), ("target", target)):
        check_values(values, 0.0, 1.0, RuntimeError,
                     f"all elements of {name} should be between 0 and 1")
    loss = -(target * input.log().clamp(min=-100) +
             (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """BCE of sigmoid(input), computed stably from the logits; ``pos_weight`` scales the
    positive term."""
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    log_sig, log_one_minus = logsigmoid(input), logsigmoid(-input)
    positive = target * log_sig
    if pos_weight is not None:
        positive = positive * pos_weight
    loss = -(positive + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target * (log target - input) pointwise (0 where target is 0); 'batchmean' divides the
    sum by the batch size."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _where(target > 0, target * target.clamp(min=1e-38).log(), target * 0) - \
            target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    return _reduce(loss, reduction)


@autocast_op(FLOAT32)
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        stirling = target * target.clamp(min=1).log() - target + \
            0.5 * (2 * math.pi * target.clamp(min=1)).log()
        loss = loss + stirling.masked_fill(target <= 1, 0.0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) (+ 0.5 log 2 pi)."""
    if var.ndim == input.ndim - 1 and tuple(var.shape) == tuple(input.shape[:-1]):
        var = var.unsqueeze(-1)
    if (var < 0).any().item():
        raise ValueError("var has negative entry/entries")
    var = var.clamp(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@autocast_op(FLOAT32)
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    loss = (-target * (input1 - input2) + margin).clamp(min=0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """input where target is 1, max(0, margin - input) where it is -1."""
    zero = input * 0
    loss = _where(target == 1, input, zero) + _where(target == -1,
                                                     (margin - input).clamp(min=0), zero)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    from ...api.reduce import cosine_similarity
    cos = cosine_similarity(input1, input2, dim=-1, eps=1e-12)
    zero = cos * 0
    loss = _where(target == 1, 1 - cos, zero) + _where(target == -1,
                                                       (cos - margin).clamp(min=0), zero)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last dim."""
    from ...api.reduce import vector_norm
    return vector_norm(x1 - x2 + eps, p, dim=-1, keepdim=keepdim)


@autocast_op(FLOAT32)
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = FUNCTIONS["minimum"](d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0),
                   _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(-1) / input.shape[-1]
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """sum over i != y of max(0, margin - x[y] + x[i])^p / C."""
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    y = (target if target.ndim else target.unsqueeze(0)).long()
    picked = x.gather(1, y.unsqueeze(1))
    terms = (margin - picked + x).clamp(min=0)
    if p == 2:
        terms = terms * terms
    if weight is not None:
        terms = terms * weight.to(x.dtype).index_select(0, y).unsqueeze(1)
    terms = terms.scatter(1, y.unsqueeze(1), 0.0)
    loss = terms.sum(1) / x.shape[1]
    if input.ndim < 2:
        loss = loss.squeeze(0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), stably."""
    return _reduce(-logsigmoid(target * input), _reduction(size_average, reduce, reduction))


@autocast_op(FLOAT32)
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
              zero_infinity=False):
    """Connectionist temporal classification: -log of the total probability of every
    alignment of each target with its input (the forward algorithm in log space over the
    targets with blanks between; autograd gives the gradient).

    ``log_probs`` (T, N, C) or (T, C); ``targets`` (N, S) padded or 1-D concatenated."""
    from ...api.creation import arange, full, tensor
    from ...api.layout import cat, stack
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    steps, n, _ = lp.shape
    in_lens = [int(v) for v in _as_list(input_lengths)]
    tg_lens = [int(v) for v in _as_list(target_lengths)]
    if targets.ndim == 1 and batched and len(tg_lens) > 1:
        parts, start = [], 0
        for length in tg_lens:
            parts.append(targets[start:start + length].tolist())
            start += length
    else:
        rows = targets.reshape(n, -1).tolist() if targets.numel() else [[]] * n
        parts = [row[:length] for row, length in zip(rows, tg_lens)]
    width = 2 * max(tg_lens + [0]) + 1
    extended = [[blank] * width for _ in range(n)]
    skip = [[False] * width for _ in range(n)]
    for b, labels in enumerate(parts):
        for i, label in enumerate(labels):
            extended[b][2 * i + 1] = label
            skip[b][2 * i + 1] = i > 0 and labels[i - 1] != label
    device = lp.device
    if lp.dtype.itemsize < 4:
        lp = lp.float()
    ext = tensor(extended, dtype=dtypes.int64, device=device)                  # (N, W)
    can_skip = tensor(skip, dtype=dtypes.bool_, device=device)
    # unreachable states hold a huge finite negative, not -inf: logsumexp's gradient at
    # all -inf inputs would be NaN; exp(-1e30) still contributes exactly 0
    inf = -1e30
    emit = lp.gather(2, ext.unsqueeze(0).expand(steps, n, width))                # (T, N, W)
    start_ok = arange(width, device=device) < 2
    alpha = emit[0].masked_fill(~start_ok, inf)
    running = tensor(in_lens, device=device).unsqueeze(1)
    for t in range(1, steps):
        shifted1 = cat([full((n, 1), inf, dtype=alpha.dtype, device=device), alpha[:, :-1]], 1)
        shifted2 = cat([full((n, 2), inf, dtype=alpha.dtype, device=device), alpha[:, :-2]], 1)
        shifted2 = shifted2.masked_fill(~can_skip, inf)
        new = stack([alpha, shifted1, shifted2]).logsumexp(0) + emit[t]
        alpha = _where(running > t, new, alpha)  # finished inputs keep their last alphas
    ends = tensor([[2 * length, max(2 * length - 1, 0)] for length in tg_lens],
                  dtype=dtypes.int64, device=device)
    final = alpha.gather(1, ends)
    final = _where(tensor([[True, length > 0] for length in tg_lens], device=device), final,
                   final.new_full(final.shape, inf))
    loss = -final.logsumexp(1)
    impossible = loss > 1e29  # no alignment exists: the loss is +inf (or 0 with zero_infinity)
    loss = _where(impossible, loss * 0 + (0.0 if zero_infinity else float("inf")), loss)
    if reduction == "mean":
        lengths = tensor(tg_lens, dtype=loss.dtype, device=device).clamp(min=1)
        return (loss / lengths).mean().to(log_probs.dtype)
    out = _reduce(loss, reduction)
    out = out.to(log_probs.dtype)
    return out if batched or reduction != "none" else out.squeeze(0)


def _as_list(x):
    return x.tolist() if hasattr(x, "tolist") else list(x)


LOSSES = {f.__name__: f for f in (ctc_loss, 
    mse_loss, l1_loss, smooth_l1_loss, huber_loss, nll_loss, cross_entropy,
    binary_cross_entropy, binary_cross_entropy_with_logits, kl_div, poisson_nll_loss,
    gaussian_nll_loss, margin_ranking_loss, hinge_embedding_loss, cosine_embedding_loss,
    pairwise_distance, triplet_margin_loss, multilabel_soft_margin_loss, multi_margin_loss,
    soft_margin_loss)}
