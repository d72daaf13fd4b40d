"""Searching and counting: searchsorted, bucketize, histc, bincount, unique, multinomial.

unique and bincount have data-dependent sizes, so they read a count back (a host sync).
"""
from __future__ import annotations

from . import dtypes
from .creation import full, zeros
from .joining import cat
from .ops.search import searchsorted as _search
from .random import rand
from .tensor import Tensor


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Indices where ``values`` would be inserted into the last dim of ``sorted_sequence``."""
    if sorter is not None:
        sorted_sequence = sorted_sequence.gather(-1, sorter)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"side can only be 'left' or 'right' but got {side}")
        right = side == "right"
    scalar = not isinstance(values, Tensor)
    if scalar:
        values = full((), values, dtype=sorted_sequence.dtype,
                      device=sorted_sequence._storage.device)
    if sorted_sequence.ndim > 1 and sorted_sequence._shape[:-1] != values._shape[:-1]:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or "
                           "the first N-1 dimensions of boundaries tensor and input value tensor "
                           "must match")
    rows = sorted_sequence.reshape(-1, sorted_sequence._shape[-1]).contiguous()
    width = values._shape[-1] if values.ndim and sorted_sequence.ndim > 1 else values.numel()
    flat = values.contiguous().reshape(-1, max(width, 1) if values.numel() else 0)
    result = _search(rows, flat, right).reshape(values._shape)
    return result.int() if out_int32 else result


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each element of ``input`` among the sorted 1-D ``boundaries``."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):
    """Histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0)."""
    if input.dtype.category < 2:
        raise NotImplementedError(f'"histogram_cpu" not implemented for '
                                  f"'{input.dtype.legacy_name}'")
    flat = input.reshape(-1)
    if min == 0 and max == 0 and flat.numel():
        min, max = flat.amin().item(), flat.amax().item()
    if min == max:
        min, max = min - 1, max + 1
    if min > max:
        raise RuntimeError("torch.histc: max must be larger than min")
    inside = (flat >= min) & (flat <= max)
    index = ((flat - min) * (bins / (max - min))).floor().long().clamp(0, bins - 1)
    # int32 counts: every backend adds them atomically (64-bit atomics are CUDA-only)
    counts = zeros(bins, dtype=dtypes.int32, device=input._storage.device)
    return counts.scatter_add_(0, index, inside.int()).to(input.dtype)


def bincount(input, weights=None, minlength=0):
    """Count of each value 0..max(input) in a non-negative 1-D int tensor (weighted sums)."""
    if input.ndim != 1 or input.dtype.category != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if input.numel() and input.amin().item() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    length = max(minlength, input.amax().item() + 1 if input.numel() else 0)
    device = input._storage.device
    if weights is None:  # int32 counts: every backend adds them atomically, then int64
        counts = zeros(length, dtype=dtypes.int32, device=device)
        if input.numel():
            counts.scatter_add_(0, input.long(), full(input.shape, 1, dtype=dtypes.int32,
                                                      device=device))
        return counts.long()
    counts = zeros(length, dtype=weights.dtype, device=device)
    if input.numel():
        counts.scatter_add_(0, input.long(), weights)
    return counts


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted), with where each element went and how often they occur."""
    if dim is not None:
        raise NotImplementedError("unique(dim=...) is not supported by cltorch yet")
    flat = input.reshape(-1)
    values, order = flat.sort()
    n = values.numel()
    if n == 0:
        result = (values,)
    else:
        starts = cat([full((1,), True, device=input._storage.device),
                      values[1:] != values[:-1]])
        positions = starts.nonzero().reshape(-1)
        result = (values.index_select(0, positions),)
    extra = []
    if return_inverse:
        group = (starts.long().cumsum(0) - 1) if n else zeros(0, dtype=dtypes.int64)
        inverse = zeros(n, dtype=dtypes.int64, device=input._storage.device)
        extra.append(inverse.scatter_(0, order, group).reshape(input._shape) if n else
                     inverse.reshape(input._shape))
    if return_counts:
        if n:
            ends = cat([positions[1:], full((1,), n, dtype=dtypes.int64,
                                            device=input._storage.device)])
            extra.append(ends - positions)
        else:
            extra.append(zeros(0, dtype=dtypes.int64, device=input._storage.device))
    return result[0] if not extra else (result[0], *extra)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Draw ``num_samples`` category indices per row of non-negative weights ``input``."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    probs = input if input.ndim == 2 else input.unsqueeze(0)
    categories = probs._shape[1]
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    weights = probs.to(dtypes.float32) if probs.dtype.category < 2 else probs
    if replacement:
        cdf = weights.cumsum(1)
        total = cdf[:, -1:]
        u = rand(probs._shape[0], num_samples, generator=generator, dtype=weights.dtype,
                 device=input._storage.device) * total
        picks = searchsorted(cdf, u, right=True).clamp(max=categories - 1)
    else:  # Gumbel top-k: exact sampling without replacement
        u = rand(probs._shape, generator=generator, dtype=weights.dtype,
                 device=input._storage.device)
        keys = weights.log() - (-(1 - u).log()).log()
        picks = keys.topk(num_samples, 1).indices
    return picks if input.ndim == 2 else picks.squeeze(0)

COUNTING = {f.__name__: f for f in (searchsorted, bucketize, histc, bincount, unique,
                                     multinomial)}
for _name in ("bincount", "histc", "unique", "multinomial"):
    setattr(Tensor, _name, COUNTING[_name])
