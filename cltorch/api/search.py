"""Searching and counting: searchsorted, bucketize, histc, bincount, unique, mode,
multinomial.

unique and bincount have data-dependent sizes, so they read a count back (a host sync).
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..ops.check import check_values
from ..ops.search import searchsorted as _search
from ..tensor import Tensor, normalize_dim
from .creation import arange, full, zeros
from .layout import cat
from .random import rand
from .reduce import _return_type, return_types

return_types.mode = _return_type("mode", "values indices")


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
    """The distinct values (sorted), or with ``dim`` the distinct slices along it (in
    lexicographic order), with where each element or slice went and how often they occur."""
    device = input._storage.device
    if dim is None:
        rows, d = input.reshape(-1, 1), None
    else:
        d = normalize_dim(dim, input.ndim)
        moved = input.movedim(d, 0)
        rows = moved.reshape(moved._shape[0], math.prod(moved._shape[1:]))
    order, ordered, starts = _sorted_runs(rows)
    n = order.numel()
    positions = starts.nonzero().reshape(-1)
    picked = ordered.index_select(0, positions)
    values = picked.reshape(-1) if d is None else \
        picked.reshape((positions.numel(),) + moved._shape[1:]).movedim(0, d)
    extra = []
    if return_inverse:
        group = starts.long().cumsum(0) - 1
        inverse = zeros(n, dtype=dtypes.int64, device=device).scatter_(0, order, group)
        extra.append(inverse.reshape(input._shape if d is None else (n,)))
    if return_counts:
        ends = cat([positions[1:], full((1,), n, dtype=dtypes.int64, device=device)])
        extra.append(ends - positions)
    return values if not extra else (values, *extra)


def _sorted_runs(rows):
    """Rows sorted lexicographically (stable): (order, sorted rows, bool mask of each run's
    first row). One stable sort per column, last column first."""
    order = arange(rows._shape[0], device=rows._storage.device)
    for column in reversed(range(rows._shape[1])):
        order = order.index_select(0, rows.select(1, column).index_select(0, order).argsort())
    ordered = rows.index_select(0, order)
    if not ordered.numel():
        return order, ordered, zeros(order.numel(), dtype=dtypes.bool_,
                                     device=rows._storage.device)
    differs = (ordered[1:] != ordered[:-1]).any(1)
    return order, ordered, cat([full((1,), True, device=rows._storage.device), differs])


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along ``dim`` (the smallest one on ties) and the index of its
    last occurrence, as PyTorch returns them."""
    d = normalize_dim(dim, input.ndim) if input.ndim else 0
    if input.ndim and input._shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    moved = (input.reshape(1) if input.ndim == 0 else input).movedim(d, -1)
    rows = moved.reshape(-1, moved._shape[-1]) if moved.numel() else moved.reshape(0, 1)
    values, order = rows.sort(1)
    positions = arange(rows._shape[1], device=input._storage.device).expand(rows._shape)
    starts = cat([full((rows._shape[0], 1), True, device=input._storage.device),
                  values[:, 1:] != values[:, :-1]], 1)
    run_start = positions.masked_fill(~starts, 0).cummax(1).values
    # the first position where a run reaches the longest length ends the smallest such value
    end = (positions - run_start).argmax(1, keepdim=True)
    shape = moved._shape[:-1] + (1,)
    values = values.gather(1, end).reshape(shape).movedim(-1, d if input.ndim else 0)
    index = order.gather(1, end).reshape(shape).movedim(-1, d if input.ndim else 0)
    if not keepdim or input.ndim == 0:
        values, index = values.squeeze(d), index.squeeze(d)
    return return_types.mode(values, index)


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
    _check_weights(weights)
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


def _check_weights(weights):
    """PyTorch's checks of multinomial weights, on the device (no host sync): finite, not
    negative, and a positive sum in every row."""
    finite = float(np.finfo(weights.dtype.compute.storage_np).max)
    check_values(weights, 0.0, finite, RuntimeError,
                 "probability tensor contains either `inf`, `nan` or element < 0")
    # the smallest normal number: a device that flushes subnormals to zero still compares right
    smallest = float(np.finfo(weights.dtype.compute.storage_np).tiny)
    check_values(weights.sum(1), float(smallest), math.inf, RuntimeError,
                 "invalid multinomial distribution (sum of probabilities <= 0)")


COUNTING = {f.__name__: f for f in (searchsorted, bucketize, histc, bincount, unique, mode,
                                     multinomial)}
NAMESPACE = COUNTING
METHODS = {name: COUNTING[name] for name in ("bincount", "histc", "unique", "mode",
                                             "multinomial")}
