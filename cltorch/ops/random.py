"""Philox4x32-10 random numbers: the ``random.mako`` kernel and its NumPy twin give the same
bits for the same (seed, offset, element index) on every device."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..backend import capture
from ..codegen import DIALECTS, render
from .launch import cached_kernel
from .array import Array, cpu_view

_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
DISTRIBUTIONS = ("uniform", "normal", "bernoulli", "integer")


def philox(n: int, seed: int, offset: int, start: int = 0) -> tuple:
    """The four uint32 words of Philox4x32-10 for counters (i, i >> 32, offset, offset >> 32),
    i = start..start+n-1, under key (seed, seed >> 32)."""
    i = np.arange(n, dtype=np.uint64) + np.uint64(start)
    c = [(i & 0xFFFFFFFF).astype(np.uint32), (i >> np.uint64(32)).astype(np.uint32),
         np.full(n, offset & 0xFFFFFFFF, np.uint32), np.full(n, offset >> 32, np.uint32)]
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for r in range(10):
        p0 = c[0].astype(np.uint64) * np.uint64(_M0)
        p1 = c[2].astype(np.uint64) * np.uint64(_M1)
        h0, l0 = (p0 >> np.uint64(32)).astype(np.uint32), p0.astype(np.uint32)
        h1, l1 = (p1 >> np.uint64(32)).astype(np.uint32), p1.astype(np.uint32)
        c = [h1 ^ c[1] ^ np.uint32(k0), l1, h0 ^ c[3] ^ np.uint32(k1), l0]
        k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
    return c


def _numpy_values(dist, words, compute, a, b):
    ct = compute.numpy
    if compute is dtypes.float64:
        scale = np.float64(2.0 ** -53)
        u = (((words[0] >> 5).astype(np.uint64) << np.uint64(26)) | (words[1] >> 6)) * scale
        u2 = (((words[2] >> 5).astype(np.uint64) << np.uint64(26)) | (words[3] >> 6)) * scale
    else:
        u = (words[0] >> 8).astype(ct) * ct.type(2.0 ** -24)
        u2 = (words[1] >> 8).astype(ct) * ct.type(2.0 ** -24)
    if dist == "uniform":
        return ct.type(a) + (ct.type(b) - ct.type(a)) * u
    if dist == "normal":
        z = np.sqrt(ct.type(-2) * np.log(ct.type(1) - u)) * np.cos(ct.type(2 * np.pi) * u2)
        return ct.type(a) + ct.type(b) * z
    if dist == "bernoulli":
        return u < ct.type(a)
    wide = (words[0].astype(np.uint64) << np.uint64(32)) | words[1]
    return np.int64(a) + (wide % np.uint64(b)).astype(np.int64)


def fill(out: Array, dist: str, seed: int, offset: int, a, b, redraw=None) -> None:
    """Fill the contiguous ``out`` with ``dist`` numbers (see random.mako for a and b).
    ``redraw()``: a new (seed, offset) from the generator, for each replay of a captured
    region (cltorch.compile), which must draw new numbers as eager mode does."""
    out._storage.version += 1
    n = out._numel()
    if n == 0:
        return
    compute = dtypes.float64 if out.dtype is dtypes.float64 else dtypes.float32
    device = out._device
    if device.kind == "cpu":
        with np.errstate(all="ignore"):
            values = _numpy_values(dist, philox(n, seed, offset), compute, a, b)
            cpu_view(out)[...] = out.dtype.from_numpy_values(np.asarray(values).reshape(
                out._shape))
        return
    key = ("random", dist, out.dtype, compute)
    param = np.int64 if dist == "integer" else compute.numpy
    kernel = cached_kernel(device, key, lambda: (
        random_source(DIALECTS[device.kind], dist, out.dtype, compute), f"random_{dist}",
        (None, np.int64, np.uint32, np.uint32, np.uint32, np.uint32, param, param)))
    device.launch(kernel, n, [out._storage.buffer, n, *_counter(seed, offset), a, b])
    if redraw is not None and capture.recording() is not None:
        capture.refresh_last(lambda args: args.__setitem__(slice(2, 6), _counter(*redraw())))


def _counter(seed: int, offset: int) -> tuple:
    """The kernel's four uint32 arguments of a (seed, offset) pair."""
    return (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, offset & 0xFFFFFFFF,
            (offset >> 32) & 0xFFFFFFFF)


def random_source(dialect, dist, out, compute) -> str:
    """Source of the ``dist`` kernel for one dialect (the template tests use it)."""
    return render("random.mako", dialect, name=f"random_{dist}", dist=dist, out=out,
                  compute=compute)
