"""Random numbers with PyTorch's API over the Philox generator in ``ops.random``.

One default generator serves every device, so after ``manual_seed(s)`` the same sequence of
calls gives the same numbers on ``cpu``, every OpenCL device and CUDA (bit for bit for uniform,
integer and Bernoulli draws; normal draws go through log/cos, which may differ in the last
bits between a device's math library and NumPy's).
"""
from __future__ import annotations

import math
import os

import numpy as np

from .. import dtypes
from ..autograd import inplace
from ..backend import capture, registry
from ..ops import pointwise
from ..ops import random as philox
from ..ops.array import Storage
from ..ops.check import check_values
from ..tensor import Tensor, sizes_from_args
from .creation import empty, tensor


class Generator:
    """A Philox stream: a 64-bit seed and a call counter (the offset)."""

    def __init__(self, device="cpu"):
        self.device = device
        self._seed, self._offset = 67280421310721, 0

    def manual_seed(self, seed: int) -> "Generator":
        seed = int(seed)
        if not -(2 ** 63) <= seed < 2 ** 64:
            raise RuntimeError(f"Overflow when unpacking long long: {seed}")
        self._seed, self._offset = seed % 2 ** 64, 0
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy; returns the new seed."""
        self.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The state as a uint8 cpu tensor (seed, offset: 16 bytes)."""
        raw = np.array([self._seed, self._offset], dtype=np.uint64).view(np.uint8)
        return Tensor._make(*_cpu_bytes(raw))

    def set_state(self, state: Tensor) -> "Generator":
        raw = state._host_values().astype(np.uint8)
        if raw.size != 16:
            raise RuntimeError("Expected a cltorch generator state of 16 bytes")
        self._seed, self._offset = (int(v) for v in raw.view(np.uint64))
        return self

    def _next(self) -> tuple:
        """(seed, offset) for one call; every call gets its own counter space."""
        offset, self._offset = self._offset, self._offset + 1
        return self._seed, offset


def _cpu_bytes(raw):
    return Storage(registry.get("cpu"), raw.copy(), 16), (16,), (1,), 0, dtypes.uint8


default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seed the default generator (all devices share it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)


def _fill(t: Tensor, dist, a, b, generator) -> Tensor:
    """Draw into ``t``; a non-contiguous target (or one autograd tracks: copy_ applies its
    in-place rules) is drawn densely, then copied in."""
    direct = t._is_contiguous() and t._offset == 0 and not inplace.tracked(t)
    target = t if direct else empty(t.shape, dtype=t.dtype, device=t._device)
    generator = generator or default_generator
    seed_, offset = generator._next()
    philox.fill(target, dist, seed_, offset, a, b, redraw=generator._next)
    return t if target is t else t.copy_(target)


def _floating(dtype, kernel="check_uniform_bounds"):
    dtype = pointwise.default_float() if dtype is None else dtypes.to_dtype(dtype)
    if dtype.category < 2:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{dtype.legacy_name}\'')
    return dtype


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, **_):
    """Uniform numbers in [0, 1)."""
    t = empty(*sizes_from_args(size), dtype=_floating(dtype), device=device)
    return _fill(t, "uniform", 0.0, 1.0, generator).requires_grad_(requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, **_):
    """Standard normal numbers."""
    t = empty(*sizes_from_args(size), dtype=_floating(dtype, "normal_kernel_cpu"), device=device)
    return _fill(t, "normal", 0.0, 1.0, generator).requires_grad_(requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, **_):
    """Integers uniform in [low, high); ``randint(high, size)`` also works."""
    if size is None:
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: 'high' and 'size'")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    t = empty(*sizes_from_args((size,)), dtype=dtype or dtypes.int64, device=device)
    return _fill(t, "integer", int(low), int(high - low), generator)


def rand_like(input, *, dtype=None, device=None, **kwargs):
    return rand(input.shape, dtype=dtype or input.dtype, device=device or input._device,
                **kwargs)


def randn_like(input, *, dtype=None, device=None, **kwargs):
    return randn(input.shape, dtype=dtype or input.dtype, device=device or input._device,
                 **kwargs)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, **kwargs):
    return randint(low, high, input.shape, dtype=dtype or input.dtype,
                   device=device or input._device, **kwargs)


def randperm(n, *, generator=None, dtype=None, device=None, **_):
    """A random permutation of 0..n-1: Philox keys sorted on the host (the same permutation on
    every device; a device sort comes with the sorting ops)."""
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    capture.stop("randperm draws its permutation on the host")
    seed_, offset = (generator or default_generator)._next()
    keys = philox.philox(n, seed_, offset)
    order = np.lexsort((np.arange(n), keys[1], keys[0]))
    return tensor(order, dtype=dtype or dtypes.int64, device=device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, **_):
    """Normal numbers: ``normal(mean, std, size)`` with numbers, or elementwise with tensors."""
    if isinstance(std, Tensor):  # on the device: raised at the next synchronisation
        check_values(std, 0.0, math.inf, RuntimeError,
                     "normal expects all elements of std >= 0.0")
    else:
        _check_std(std)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        return randn(like.shape, generator=generator, dtype=like.dtype,
                     device=like._device) * std + mean
    if size is None:
        raise TypeError("normal() missing required argument: 'size'")
    t = empty(*sizes_from_args((size,)), dtype=_floating(dtype), device=device)
    return _fill(t, "normal", float(mean), float(std), generator)


def bernoulli(input, p=None, *, generator=None):
    """1 with probability ``input`` (or ``p``) elementwise, else 0, in ``input``'s dtype."""
    out = empty(input.shape, dtype=input.dtype, device=input._device)
    if p is not None:
        _check_probability(float(p))
        return _fill(out, "bernoulli", float(p), 0.0, generator)
    check_values(input, 0.0, 1.0, RuntimeError,
                 "Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    u = _fill(empty(input.shape, dtype=dtypes.float32 if input.dtype is not dtypes.float64
                    else dtypes.float64, device=input._device), "uniform", 0.0, 1.0, generator)
    return out.copy_(u < input)


def uniform_(self, from_=0.0, to=1.0, *, generator=None):
    """Fill with uniform numbers in [from_, to)."""
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={from_:g} > to={to:g}")
    return _fill(self, "uniform", float(from_), float(to), generator)


def _check_probability(p) -> None:
    """A probability given as a number (no device read): in [0, 1], as PyTorch checks."""
    if not 0.0 <= p <= 1.0:  # NaN fails too
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")


def _check_std(std) -> None:
    if not std >= 0:  # NaN fails too
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with normal numbers."""
    _check_std(std)
    return _fill(self, "normal", float(mean), float(std), generator)


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 with probability ``p`` (a number or a tensor), else 0."""
    if isinstance(p, Tensor):
        return self.copy_(bernoulli(p.expand_as(self).to(self.dtype), generator=generator))
    _check_probability(float(p))
    return _fill(self, "bernoulli", float(p), 0.0, generator)


def random_(self, from_=0, to=None, *, generator=None):
    """Fill with integers uniform in [from_, to) (to defaults to 2**mantissa for floats)."""
    if to is None:
        from_, to = 0, (from_ if from_ else _default_top(self.dtype))
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                           f"from={from_} >= to={to}")
    t = empty(self.shape, dtype=dtypes.int64, device=self._device)
    return self.copy_(_fill(t, "integer", int(from_), int(to - from_), generator))


def _default_top(dtype) -> int:
    """PyTorch's default upper bound of random_(): every integer the dtype holds exactly."""
    if dtype.category == 0:
        return 2
    if dtype.category == 1:
        return int(np.iinfo(dtype.storage_np).max) + 1
    return 2 ** {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}[dtype.name]


def exponential_(self, lambd=1.0, *, generator=None):
    """Fill with exponential numbers of rate ``lambd``: -log(1 - u) / lambd."""
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    u = _fill(empty(self.shape, dtype=self.dtype, device=self._device), "uniform", 0.0, 1.0,
              generator)
    return self.copy_((1 - u).log() / -lambd)


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """Fill with exp(x), x normal of ``mean`` and ``std``."""
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std:g}")
    normal = _fill(empty(self.shape, dtype=self.dtype, device=self._device), "normal",
                   float(mean), float(std), generator)
    return self.copy_(normal.exp())


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Fill with Cauchy numbers: median + sigma * tan(pi * (u - 1/2))."""
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
    return self.copy_((_uniform(self, generator) - 0.5).mul(math.pi).tan() * sigma + median)


def geometric_(self, p, *, generator=None):
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")
    trials = (1 - _uniform(self, generator)).log().div(math.log1p(-p)).ceil()
    return self.copy_(trials.clamp(min=1))


def _uniform(like, generator):
    """Uniform numbers in [0, 1) shaped like ``like``, in its float dtype (float32 else)."""
    dtype = like.dtype if like.dtype.is_floating_point else dtypes.float32
    return _fill(empty(like.shape, dtype=dtype, device=like._device), "uniform", 0.0, 1.0,
                 generator)


RANDOM = {f.__name__: f for f in (manual_seed, seed, initial_seed, get_rng_state, set_rng_state,
                                   rand, randn, randint, rand_like, randn_like, randint_like,
                                   randperm, normal, bernoulli)}
NAMESPACE = RANDOM
METHODS = {f.__name__: f for f in (uniform_, normal_, bernoulli_, random_, exponential_,
                                   bernoulli, log_normal_, cauchy_, geometric_)}
