"""Array: a strided view (shape, strides, offset, dtype) on a device Storage.

The Tensor class subclasses it and adds autograd; the ops layer only needs what is here, so it
creates its results with ``type(template)`` and never imports the tensor layer.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..backend import Device
from ..backend.capture import ACTIVE as _CAPTURING
from .layout import contiguous_strides, is_contiguous, numel


class Storage:
    """Bytes on one device. ``buffer`` is the backend's handle (None when empty). ``version``
    counts the writes into existing data (in-place ops), shared by every view, as PyTorch's
    version counter is; autograd checks it for tensors it saved. ``views`` (cpu only) keeps the
    NumPy views of the bytes that tensors have asked for, by layout (see ``cpu_view``).
    ``pinned`` (cpu only): made by ``pin_memory``, so copies from it to a device may be
    enqueued without waiting (``non_blocking=True``)."""

    __slots__ = ("device", "buffer", "nbytes", "version", "views", "pinned", "__weakref__")

    def __init__(self, device: Device, buffer, nbytes: int):
        self.device, self.buffer, self.nbytes = device, buffer, nbytes
        self.version, self.views, self.pinned = 0, None, False
        if _CAPTURING[0] is not None:  # cltorch.compile: cpu work stops a capture
            _CAPTURING[0].made(self)
        stats = device.memory  # [bytes held by live storages, their peak]
        stats[0] += nbytes
        if stats[0] > stats[1]:
            stats[1] = stats[0]

    def __del__(self):
        self.device.memory[0] -= self.nbytes


class Array:
    """A view on a Storage; strides and offset count elements, as in PyTorch."""

    __slots__ = ("_storage", "_shape", "_strides", "_offset", "dtype")

    @classmethod
    def _make(cls, storage, shape, strides, offset, dtype):
        self = object.__new__(cls)
        self._storage, self._shape, self._strides = storage, shape, strides
        self._offset, self.dtype = offset, dtype
        return self

    @property
    def _device(self) -> Device:
        return self._storage.device

    def _numel(self) -> int:
        return numel(self._shape)

    def _is_contiguous(self) -> bool:
        return is_contiguous(self._shape, self._strides)


def relayout(x: Array, shape, strides=None) -> Array:
    """``x``'s elements under another layout (contiguous when ``strides`` is None): a new
    array on the same storage, with no autograd node and not a view, for results an op has
    just made or operands it reads as they lie."""
    strides = contiguous_strides(shape) if strides is None else strides
    return type(x)._make(x._storage, shape, strides, x._offset, x.dtype)


def is_array(x) -> bool:
    """Whether ``x`` is an array (a Tensor included) rather than a Python number."""
    return isinstance(x, Array)


def check_no_internal_overlap(out: Array) -> None:
    """A tensor written in place must not have two elements on one memory location (a
    broadcast/expanded dim, a zero stride): PyTorch refuses, and the result would depend on
    the order the device writes in, differing between cpu and OpenCL."""
    for size, stride in zip(out._shape, out._strides):
        if stride == 0 and size > 1:
            raise RuntimeError("unsupported operation: more than one element of the "
                               "written-to tensor refers to a single memory location. Please "
                               "clone() the tensor before performing the operation.")


def check_same_device(*arrays) -> None:
    """PyTorch's error when an op's tensors live on different devices (nothing moves)."""
    first = arrays[0]._storage.device
    for other in arrays[1:]:
        check_device(first, other._storage.device)


def same_device(a: Device, b: Device) -> bool:
    """Device objects compare by kind and index (a backend may recreate one)."""
    return a is b or (a.kind, a.index) == (b.kind, b.index)


def check_device(expected: Device, found: Device) -> None:
    if not same_device(expected, found):
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at "
                           f"least two devices, {expected.name} and {found.name}!")


def check_dtype_supported(device: Device, dtype) -> None:
    if dtype is dtypes.float64 and not device.supports_fp64:
        raise TypeError(f"Cannot use a float64 tensor on {device.name}: the device has no fp64 "
                        "support (use float32)")


def empty(cls, shape, dtype, device: Device):
    """A new contiguous, uninitialised array."""
    check_dtype_supported(device, dtype)
    shape = tuple(shape)
    nbytes = numel(shape) * dtype.itemsize
    storage = Storage(device, device.allocate(nbytes), nbytes)
    return cls._make(storage, shape, contiguous_strides(shape), 0, dtype)


def from_numpy_values(cls, values: np.ndarray, dtype, device: Device):
    """A new contiguous array on ``device`` holding ``values`` converted to ``dtype``."""
    stored = np.asarray(dtype.from_numpy_values(np.asarray(values)), order="C")
    return from_stored(cls, stored, dtype, device)


def cpu_view(x: Array) -> np.ndarray:
    """The stored bits of a cpu array as a NumPy view (writes go to the tensor).

    Views are kept on the storage by layout: building one costs more than the NumPy op on a
    small tensor, and a training step asks for the same few layouts again and again."""
    storage = x._storage
    key = (x.dtype, x._shape, x._strides, x._offset)
    views = storage.views
    if views is None:
        views = storage.views = {}
    else:
        view = views.get(key)
        if view is not None:
            return view
    item = x.dtype.itemsize
    if x._numel() == 0:
        return np.empty(x._shape, dtype=x.dtype.storage_np)
    if len(views) >= _MAX_VIEWS:  # e.g. the rows of an unbind: keep the memory bounded
        views.clear()
    view = views[key] = np.ndarray(x._shape, dtype=x.dtype.storage_np, buffer=storage.buffer,
                                   offset=x._offset * item,
                                   strides=tuple(s * item for s in x._strides))
    return view


_MAX_VIEWS = 32


def adopt_values(cls, device: Device, values, dtype, shape) -> Array:
    """A new contiguous cpu array of ``shape`` holding NumPy ``values`` (a result just
    computed, broadcastable to ``shape``) as ``dtype``: the result's memory becomes the
    storage, with no copy when it is already C-contiguous, of the stored type and its own (a
    result that is a view of an input, an identity say, is copied)."""
    values = np.asarray(values)
    if values.shape != shape:
        values = np.broadcast_to(values, shape)
    stored = values if values.dtype is dtype.storage_np and dtype is not dtypes.bfloat16 \
        else dtype.from_numpy_values(values)
    return adopt_stored(cls, device, stored, dtype, shape)


def adopt_stored(cls, device: Device, stored: np.ndarray, dtype, shape, fresh=False) -> Array:
    """``adopt_values`` for ``stored``, already ``dtype``'s stored bits in ``shape``.
    ``fresh``: ``stored`` is a view (a reshape) of an array just made for this result alone,
    so it is kept as well."""
    if not ((fresh or stored.flags.owndata) and stored.flags.c_contiguous):
        stored = np.array(stored, order="C")
    return wrap_stored(cls, device, stored, dtype, shape, contiguous_strides(shape))


def wrap_stored(cls, device: Device, stored: np.ndarray, dtype, shape, strides) -> Array:
    """The new array on ``stored`` itself: C-contiguous stored bits that nothing else holds,
    laid out as ``shape`` with its contiguous ``strides``."""
    storage = Storage(device, stored.ravel().view(np.uint8), stored.nbytes)
    # the first cpu_view costs nothing. A view of it is kept, not the array itself: an op
    # that hands its input back (a copy) must see an array that does not own its memory
    storage.views = {(dtype, shape, strides, 0): stored.view()}
    return cls._make(storage, shape, strides, 0, dtype)


try:  # NumPy 2: the error state is a context variable, set here without errstate's 0.8 us
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
    _IGNORE_ALL = _make_extobj(all="ignore")

    def quietly(fn, *args):
        """``fn(*args)`` with NumPy's floating-point warnings off (overflow to inf, NaN from
        invalid operations and division by zero are results here, as on a device)."""
        token = _extobj_contextvar.set(_IGNORE_ALL)
        try:
            return fn(*args)
        finally:
            _extobj_contextvar.reset(token)
except ImportError:  # NumPy 1.x
    def quietly(fn, *args):
        """``fn(*args)`` with NumPy's floating-point warnings off."""
        with np.errstate(all="ignore"):
            return fn(*args)


def store_values(x: Array, values: np.ndarray) -> None:
    """Write NumPy ``values`` (broadcastable) into the cpu array ``x``: one copy, converted to
    the stored type only when it differs."""
    target = cpu_view(x)
    if values.dtype == target.dtype:
        np.copyto(target, values)
    else:
        target[...] = x.dtype.from_numpy_values(values)


def shares_memory(a: Array, b: Array) -> bool:
    return a._storage is b._storage


def from_stored(cls, stored: np.ndarray, dtype, device: Device, blocking: bool = True):
    """A new contiguous array on ``device`` holding the C-contiguous stored bits ``stored``
    (``blocking=False``: the copy may still be in flight, see ``Device.upload``)."""
    check_dtype_supported(device, dtype)
    storage = Storage(device, device.upload(stored, blocking), stored.nbytes)
    return cls._make(storage, tuple(stored.shape), contiguous_strides(stored.shape), 0, dtype)
