"""Comparisons of whole tensors, differences, products of vectors, distances and windows."""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from .creation import tensor
from .functions import FUNCTIONS
from .joining import cat, stack
from .ops import pointwise
from .reductions import vector_norm
from .tensor import Tensor, normalize_dim


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (infinities equal themselves)."""
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype!r} did not match {other.dtype!r}")
    a, b = input, other
    close = (a == b)
    if a.dtype.category == 2 or b.dtype.category == 2:
        finite = a.isfinite() & b.isfinite()
        close = close | (finite & ((a - b).abs() <= atol + rtol * b.abs()))
        if equal_nan:
            close = close | (a.isnan() & b.isnan())
    else:
        close = close | ((a - b).abs() <= atol + rtol * b.abs())
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """True when every element is close (see ``isclose``); reads one bool back."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other) -> bool:
    """True when both have the same shape and the same elements."""
    return input.shape == other.shape and bool((input == other).all().item())


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """``n``-th forward difference along ``dim`` (bool: ``!=``), after prepending/appending."""
    d = normalize_dim(dim, input.ndim)
    x = cat([t for t in (prepend, input, append) if t is not None], d) \
        if prepend is not None or append is not None else input
    for _ in range(n):
        size = x._shape[d]
        after, before = x.narrow(d, 1, max(size - 1, 0)), x.narrow(d, 0, max(size - 1, 0))
        x = after != before if x.dtype is dtypes.bool_ else after - before
    return x


def cross(input, other, dim=None):
    """Cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    if dim is None:
        dim = next((d for d, s in enumerate(input._shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = normalize_dim(dim, input.ndim)
    if input._shape[d] != 3 or other._shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input._shape[d]} and {other._shape[d]}")
    a = [input.select(d, i) for i in range(3)]
    b = [other.select(d, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                  a[0] * b[1] - a[1] * b[0]], d)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``x1 . x2 / (max(|x1|, eps) * max(|x2|, eps))`` along ``dim``."""
    n1 = FUNCTIONS["clamp_min"](vector_norm(x1, 2, dim), eps)
    n2 = FUNCTIONS["clamp_min"](vector_norm(x2, 2, dim), eps)
    return (x1 * x2).sum(dim) / (n1 * n2)


def cdist(x1, x2, p=2.0):
    """Pairwise ``p``-norm distances between the rows of ``x1`` (.., P, M) and ``x2`` (.., R, M)."""
    if x1._shape[-1] != x2._shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1._shape[-1]} X2: {x2._shape[-1]}")
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


def _window(values_fn, window_length, periodic, dtype, device, requires_grad):
    if window_length < 0:
        raise RuntimeError(f"window_length must be non-negative, got {window_length}")
    dtype = pointwise.default_float() if dtype is None else dtypes.to_dtype(dtype)
    if window_length <= 1:
        values = np.ones(window_length)
    else:
        n = window_length + 1 if periodic else window_length
        values = values_fn(np.arange(n, dtype=np.float64), n)[:window_length]
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def hann_window(window_length, periodic=True, *, dtype=None, device=None,
                requires_grad=False, **_):
    """Hann window (periodic by default, for spectral analysis)."""
    return _window(lambda k, n: 0.5 - 0.5 * np.cos(2 * math.pi * k / (n - 1)), window_length,
                   periodic, dtype, device, requires_grad)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None,
                   device=None, requires_grad=False, **_):
    """Hamming window ``alpha - beta * cos(2 pi k / (N - 1))``."""
    return _window(lambda k, n: alpha - beta * np.cos(2 * math.pi * k / (n - 1)),
                   window_length, periodic, dtype, device, requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, device=None,
                    requires_grad=False, **_):
    """Blackman window."""
    return _window(lambda k, n: 0.42 - 0.5 * np.cos(2 * math.pi * k / (n - 1)) +
                   0.08 * np.cos(4 * math.pi * k / (n - 1)), window_length, periodic, dtype,
                   device, requires_grad)


def bartlett_window(window_length, periodic=True, *, dtype=None, device=None,
                    requires_grad=False, **_):
    """Bartlett (triangular) window."""
    return _window(lambda k, n: 1 - np.abs(2 * k / (n - 1) - 1), window_length, periodic,
                   dtype, device, requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, device=None,
                  requires_grad=False, **_):
    """Kaiser window with shape parameter ``beta``."""
    return _window(lambda k, n: np.i0(beta * np.sqrt(np.clip(
        1 - (2 * k / (n - 1) - 1) ** 2, 0, None))) / np.i0(beta), window_length, periodic,
        dtype, device, requires_grad)


MISC = {f.__name__: f for f in (isclose, allclose, equal, diff, cross, cosine_similarity, cdist,
                                 hann_window, hamming_window, blackman_window, bartlett_window,
                                 kaiser_window)}
for _name in ("isclose", "allclose", "equal", "diff", "cross"):
    setattr(Tensor, _name, MISC[_name])
