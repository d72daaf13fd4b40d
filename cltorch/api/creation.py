"""Tensor creation: tensor, empty/zeros/ones/full (and *_like), ranges, eye, NumPy interop."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes
from ..backend import registry
from ..ops import pointwise
from ..ops.array import Storage, empty as _empty, from_numpy_values
from ..tensor import Size, Tensor, sizes_from_args


def _device(device):
    return registry.default() if device is None else registry.get(device)


def _finish(t, requires_grad):
    return t.requires_grad_() if requires_grad else t


def _infer_dtype(data, values: np.ndarray):
    """PyTorch's dtype for ``tensor(data)``: NumPy data keeps its dtype, Python numbers map to
    bool / int64 / the default float."""
    if isinstance(data, (np.ndarray, np.generic)):
        return _numpy_dtype(values.dtype)
    kind = values.dtype.kind
    if kind == "b":
        return dtypes.bool_
    if kind in "iu":
        return dtypes.int64
    if kind == "f":
        return pointwise.default_float()
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _numpy_dtype(np_dtype):
    try:
        return dtypes.FROM_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype).name}. The "
                        "only supported types are: float64, float32, float16, int64, int32, "
                        "int16, int8, uint8, and bool.") from None


def _host_values(data):
    if isinstance(data, Tensor):
        return data._host_values()
    if isinstance(data, (list, tuple)):
        data = [_host_values(x) if isinstance(x, (Tensor, list, tuple)) else x for x in data]
    try:
        values = np.asarray(data)
    except ValueError as err:
        raise ValueError(f"expected sequence of equal-length sequences: {err}") from None
    if values.dtype == object:
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if values.dtype.kind in "US":
        raise ValueError(f"too many dimensions '{type(values.flat[0].item()).__name__}'")
    return values


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (nested lists, scalars, NumPy arrays, tensors).

    Example:
        >>> tensor([[1, 2], [3, 4]]).dtype
        torch.int64
    """
    values = _host_values(data)
    dtype = dtypes.to_dtype(dtype) if dtype is not None else (
        data.dtype if isinstance(data, Tensor) else _infer_dtype(data, values))
    if isinstance(data, (int, float, list, tuple)) and dtype.category == 1:
        _check_fits(values, dtype)
    out = from_numpy_values(Tensor, values, dtype, _device(device))
    if pin_memory:  # a new tensor: pinned in place (see Tensor.pin_memory)
        if out._storage.device.kind != "cpu":
            raise RuntimeError("Only dense CPU tensors can be pinned")
        out._storage.pinned = True
    return _finish(out, requires_grad)


def _check_fits(values: np.ndarray, dtype) -> None:
    """Python numbers that an integer dtype cannot hold are refused, as PyTorch refuses them
    (NumPy arrays wrap, as in PyTorch)."""
    if values.size == 0:
        return
    if values.dtype.kind == "O" or (values.dtype.kind == "u" and
                                    values.max() > np.iinfo(np.int64).max):
        raise ValueError("Overflow when unpacking long long")
    if values.dtype.kind not in "iuf":
        return
    info = np.iinfo(dtype.storage_np)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise RuntimeError(f"value cannot be converted to type {dtype.storage_np} without "
                           f"overflow")
    low = -256 if dtype is dtypes.uint8 else info.min  # PyTorch lets uint8 wrap from below
    if values.min() < low or values.max() > info.max:
        raise RuntimeError(f"value cannot be converted to type {dtype.storage_np} without "
                           f"overflow")


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, without a copy when it already is one of that dtype and device."""
    if isinstance(data, Tensor):
        return data.to(device=device or data.device, dtype=dtype or data.dtype)
    if isinstance(data, np.ndarray) and device is None and dtype is None:
        if registry.default().kind == "cpu":
            return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A cpu tensor sharing memory with ``array`` (writes show through both ways)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtype = _numpy_dtype(array.dtype)
    item = array.itemsize
    if any(s < 0 for s in array.strides):
        raise ValueError("At least one stride in the given numpy array is negative, and tensors "
                         "with negative strides are not currently supported. (You can probably "
                         "work around this by making a copy of your array  with array.copy().) ")
    if any(s % item for s in array.strides):
        raise ValueError("given numpy array strides not a multiple of the element byte size. "
                         "Copy the numpy array to reallocate the memory.")
    span = item + sum((n - 1) * s for n, s in zip(array.shape, array.strides)) if array.size else 0
    storage = Storage(registry.get("cpu"), _byte_view(array, span), span)
    return Tensor._make(storage, array.shape, tuple(s // item for s in array.strides), 0, dtype)


class _Memory:
    """Exposes ``span`` bytes from the first element of an array, keeping the array alive."""

    def __init__(self, array, span):
        self.array = array
        self.__array_interface__ = {"shape": (span,), "typestr": "|u1", "version": 3,
                                    "data": (array.ctypes.data, not array.flags.writeable)}


def _byte_view(array, span):
    return np.asarray(_Memory(array, span))


def _new(size, dtype, device, requires_grad, fill):
    sizes = sizes_from_args(size)
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(sizes)}: "
                           f"{list(sizes)}")
    dtype = pointwise.default_float() if dtype is None else dtypes.to_dtype(dtype)
    if fill is None:
        return _finish(_empty(Tensor, sizes, dtype, _device(device)), requires_grad)
    dtypes.check_fits(fill, dtype)  # a fresh tensor: no autograd or aliasing to consider
    return _finish(pointwise.full(Tensor, sizes, dtype, _device(device), fill), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, **_):
    """An uninitialised tensor of ``size``."""
    return _new(size, dtype, device, requires_grad, None)


def zeros(*size, dtype=None, device=None, requires_grad=False, **_):
    """A tensor of zeros. ``zeros(2, 3)`` and ``zeros((2, 3))`` are the same."""
    return _new(size, dtype, device, requires_grad, 0)


def ones(*size, dtype=None, device=None, requires_grad=False, **_):
    """A tensor of ones."""
    return _new(size, dtype, device, requires_grad, 1)


def full(size, fill_value, dtype=None, device=None, requires_grad=False, **_):
    """A tensor of ``size`` filled with ``fill_value`` (its dtype inferred as PyTorch does)."""
    if dtype is None:
        dtype = dtypes.scalar_dtype(fill_value, pointwise.default_float())
    return _new((size,) if isinstance(size, int) else (tuple(size),), dtype, device,
                requires_grad, fill_value)


def _like(input, dtype, device):
    return (input.dtype if dtype is None else dtype,
            input._storage.device if device is None else device)


def empty_like(input, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return empty(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return zeros(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return ones(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False, **_):
    dtype, device = _like(input, dtype, device)
    return full(input.shape, fill_value, dtype=dtype, device=device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, **_):
    """Values from ``start`` up to (not including) ``end`` by ``step``."""
    if end is None:
        start, end = 0, start
    start, end, step = (_number(x) for x in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        floating = any(isinstance(x, float) for x in (start, end, step))
        dtype = pointwise.default_float() if floating else dtypes.int64
    count = max(0, math.ceil((end - start) / step))
    exact = all(isinstance(x, int) for x in (start, end, step))
    values = np.arange(count, dtype=np.int64 if exact else np.float64) * step + start
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def _number(x):
    if isinstance(x, Tensor):
        return x.item()
    if not isinstance(x, numbers.Number):
        raise TypeError(f"expected a number, got {type(x).__name__}")
    return x


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, **_):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    start, end = _number(start), _number(end)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    i = np.arange(steps, dtype=np.float64)
    values = np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))
    dtype = pointwise.default_float() if dtype is None else dtypes.to_dtype(dtype)
    if dtype.category < 2:
        values = np.trunc(values)
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False, **_):
    """``base`` raised to ``steps`` evenly spaced exponents from ``start`` to ``end``."""
    exponents = linspace(start, end, steps, dtype=dtypes.float64, device="cpu")._host_values()
    dtype = pointwise.default_float() if dtype is None else dtypes.to_dtype(dtype)
    return tensor(np.power(float(base), exponents), dtype=dtype, device=device,
                  requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False, **_):
    """A 2-D tensor with ones on the diagonal."""
    m = n if m is None else m
    if n < 0 or m < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {min(n, m)}")
    dtype = pointwise.default_float() if dtype is None else dtypes.to_dtype(dtype)
    t = zeros(n, m, dtype=dtype, device=device)
    k = min(n, m)
    if k:
        t._view((k,), (m + 1,)).fill_(1)
    return _finish(t, requires_grad)


def legacy_new(dtype, args, device):
    """``Tensor(2, 3)`` (sizes), ``Tensor([1, 2])`` (data), ``Tensor(t)`` (alias), ``Tensor()``."""
    if len(args) == 1 and isinstance(args[0], Tensor):
        return args[0]
    if len(args) == 1 and isinstance(args[0], (list, tuple, np.ndarray)) and \
            not isinstance(args[0], Size):
        return tensor(args[0], dtype=dtype, device=device)
    return empty(*args, dtype=dtype, device=device) if args else \
        empty(0, dtype=dtype, device=device)


class _LegacyType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and \
            obj.device.type == cls.device_type


def _legacy_class(dtype, device_type="cpu"):
    """``torch.FloatTensor`` (``device_type`` cpu) or ``torch.cuda.FloatTensor`` (cuda)."""
    def __new__(cls, *args, device=None):
        return legacy_new(dtype, args, device_type if device is None else device)
    return _LegacyType(f"{dtype.legacy_name}Tensor", (),
                       {"__new__": __new__, "dtype": dtype, "device_type": device_type})


def legacy_classes(device_type: str) -> dict:
    """The ten legacy tensor classes of a device type, by name (``FloatTensor``...)."""
    return {f"{d.legacy_name}Tensor": _legacy_class(d, device_type) for d in dtypes.ALL}


FloatTensor = _legacy_class(dtypes.float32)
DoubleTensor = _legacy_class(dtypes.float64)
HalfTensor = _legacy_class(dtypes.float16)
BFloat16Tensor = _legacy_class(dtypes.bfloat16)
LongTensor = _legacy_class(dtypes.int64)
IntTensor = _legacy_class(dtypes.int32)
ShortTensor = _legacy_class(dtypes.int16)
CharTensor = _legacy_class(dtypes.int8)
ByteTensor = _legacy_class(dtypes.uint8)
BoolTensor = _legacy_class(dtypes.bool_)


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


def _new_tensor_legacy(cls, *args, device=None):
    """``Tensor(...)``: the legacy constructor in the default float dtype."""
    return legacy_new(pointwise.default_float(), args, device)


def _method_new(self, *args, device=None):
    """The legacy constructor in this tensor's dtype and device: ``new(2, 3)`` (sizes,
    uninitialised), ``new([1, 2])`` (data), ``new()`` (empty)."""
    return legacy_new(self.dtype, args, self._storage.device if device is None else device)


def _new_like(make):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return make(*size, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)
    method.__name__ = "new_" + make.__name__
    method.__doc__ = f"``{make.__name__}`` of ``size`` with this tensor's dtype and device " \
                     "(unless given)."
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``full`` with this tensor's dtype and device (unless given)."""
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """``tensor(data)`` with this tensor's dtype and device (unless given)."""
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


NAMESPACE = {f.__name__: f for f in (
    tensor, as_tensor, from_numpy, empty, zeros, ones, full, empty_like, zeros_like, ones_like,
    full_like, arange, linspace, logspace, eye, hann_window, hamming_window, blackman_window,
    bartlett_window, kaiser_window)}
NAMESPACE.update((c.__name__, c) for c in (
    FloatTensor, DoubleTensor, HalfTensor, BFloat16Tensor, LongTensor, IntTensor, ShortTensor,
    CharTensor, ByteTensor, BoolTensor))
METHODS = {"__new__": staticmethod(_new_tensor_legacy), "new": _method_new,
           "new_zeros": _new_like(zeros), "new_ones": _new_like(ones),
           "new_empty": _new_like(empty), "new_full": _new_full, "new_tensor": _new_tensor}
