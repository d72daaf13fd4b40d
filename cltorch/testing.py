"""``cltorch.testing`` (``torch.testing``): ``assert_close`` and ``make_tensor``."""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from .tensor import Tensor

# PyTorch's default (rtol, atol) per dtype; integers and bool compare exactly.
_TOLERANCES = {dtypes.float16: (1e-3, 1e-5), dtypes.bfloat16: (1.6e-2, 1e-5),
               dtypes.float32: (1.3e-6, 1e-5), dtypes.float64: (1e-7, 1e-7)}


def _tolerance(dtype):
    return _TOLERANCES.get(dtype, (0.0, 0.0))


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None,
                 equal_nan=False, check_device=True, check_dtype=True, check_layout=True,
                 check_stride=False, msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` (tensors, numbers, or nested
    sequences and mappings of them) are close: ``|a - e| <= atol + rtol * |e|``."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    if isinstance(actual, dict) or isinstance(expected, dict):
        if set(actual) != set(expected):
            raise AssertionError(msg or f"The keys of the mappings do not match: "
                                        f"{sorted(actual)} != {sorted(expected)}")
        for key in actual:
            assert_close(actual[key], expected[key], rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        if len(actual) != len(expected):
            raise AssertionError(msg or f"The length of the sequences mismatch: "
                                        f"{len(actual)} != {len(expected)}")
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg)


def _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg):
    if isinstance(actual, Tensor) != isinstance(expected, Tensor):
        raise AssertionError(msg or f"Expected both inputs to be tensors or numbers, got "
                                    f"{type(actual).__name__} and {type(expected).__name__}")
    if isinstance(actual, Tensor):
        if actual.shape != expected.shape:
            raise AssertionError(msg or f"The values for attribute 'shape' do not match: "
                                        f"{actual.shape} != {expected.shape}.")
        if check_device and actual.device != expected.device:
            raise AssertionError(msg or f"The values for attribute 'device' do not match: "
                                        f"{actual.device} != {expected.device}.")
        if check_dtype and actual.dtype is not expected.dtype:
            raise AssertionError(msg or f"The values for attribute 'dtype' do not match: "
                                        f"{actual.dtype} != {expected.dtype}.")
        if rtol is None:
            rtol, atol = (max(x, y) for x, y in zip(_tolerance(actual.dtype),
                                                   _tolerance(expected.dtype)))
        a = actual.detach().cpu().double().numpy() if actual.dtype.is_floating_point else \
            actual.detach().cpu().numpy()
        e = expected.detach().cpu().double().numpy() if expected.dtype.is_floating_point else \
            expected.detach().cpu().numpy()
        kind = "Tensor-likes"
    else:
        if rtol is None:
            rtol, atol = (1.3e-6, 1e-5) if isinstance(actual, float) or \
                isinstance(expected, float) else (0.0, 0.0)
        a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        kind = "Scalars"
    _check_values(a, e, rtol, atol, equal_nan, kind, msg)


def _check_values(a, e, rtol, atol, equal_nan, kind, msg):
    a64, e64 = np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
        close |= (a64 == e64)  # infinities of the same sign
    if close.all():
        return
    if msg is not None:
        raise AssertionError(msg)
    bad = ~close
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(a64 - e64)
        rel = diff / np.abs(e64)
    diff_m, rel_m = np.where(bad, diff, -1.0), np.where(bad, rel, -1.0)
    if a64.ndim == 0:
        raise AssertionError(f"{kind} are not close!\n\nExpected {e64.item()} but got "
                             f"{a64.item()}.\nAbsolute difference: {diff.item()} (up to {atol} "
                             f"allowed)\nRelative difference: {rel.item()} (up to {rtol} "
                             f"allowed)")
    i_abs = np.unravel_index(np.nanargmax(diff_m), a64.shape)
    i_rel = np.unravel_index(np.nanargmax(rel_m), a64.shape)
    total = a64.size
    raise AssertionError(
        f"{kind} are not close!\n\nMismatched elements: {int(bad.sum())} / {total} "
        f"({100.0 * bad.sum() / total:.1f}%)\nGreatest absolute difference: "
        f"{diff[i_abs]} at index {tuple(int(i) for i in i_abs)} (up to {atol} allowed)\n"
        f"Greatest relative difference: {rel[i_rel]} at index "
        f"{tuple(int(i) for i in i_rel)} (up to {rtol} allowed)")


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """The deprecated form: compares values only (no dtype or device check)."""
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_device=False, check_dtype=False, msg=msg or None)


def make_tensor(*shape, dtype, device, low=None, high=None, requires_grad=False,
                noncontiguous=False, exclude_zero=False, memory_format=None):
    """A tensor of ``shape`` with values drawn uniformly from [low, high) (PyTorch's
    defaults: [-9, 9] for floats and signed integers, [0, 10) for unsigned, bool 0/1)."""
    from .api.creation import tensor
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    dtype = dtypes.to_dtype(dtype)
    rng = np.random.default_rng()
    if dtype is dtypes.bool_:
        values = rng.integers(0, 2, shape).astype(bool)
    elif dtype.is_floating_point:
        lo, hi = -9.0 if low is None else low, 9.0 if high is None else high
        values = rng.uniform(lo, hi, shape)
    else:
        lo = (0 if dtype is dtypes.uint8 else -9) if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        values = rng.integers(lo, hi, shape)
    if exclude_zero:
        values = np.where(values == 0, 1, values)
    out = tensor(values, dtype=dtype, device=device)
    if noncontiguous and out.numel() > 1:
        out = out.repeat_interleave(2, dim=-1)[..., ::2]
    return out.requires_grad_(requires_grad) if dtype.is_floating_point else out
