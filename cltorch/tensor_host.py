"""The Tensor methods that move values: between devices (``to``, ``cpu``, ``cuda``,
pinned memory) and out to the host and Python (``numpy``, ``item``, ``tolist``, conversions to
Python numbers, printing). A base class of Tensor, kept apart so that ``tensor.py`` stays about
what a tensor is."""
from __future__ import annotations

import numpy as np

from . import _printing, dtypes
from .autograd.graph import record
from .backend import registry
from .ops import pointwise
from .ops.array import Array, cpu_view, from_stored


class HostMethods:
    """Transfers and host access, mixed into Tensor."""

    __slots__ = ()

    # ---- between devices --------------------------------------------------------------------
    def _transfer(self, device, non_blocking=False):
        """The same values on another device (through the host). From a pinned cpu tensor
        with ``non_blocking``, the copy is enqueued from the tensor's own memory and not
        waited for."""
        if self._storage.device.kind == "cpu" and self._is_contiguous():
            # the tensor's own memory (a blocking copy has read it when it returns), which
            # also lets cltorch.compile tell a cpu input moved inside a region from a constant
            return from_stored(type(self), cpu_view(self), self.dtype, device,
                               blocking=not (non_blocking and self._storage.pinned))
        return from_stored(type(self), pointwise.read_stored(self), self.dtype, device)

    def pin_memory(self, device=None):
        """This cpu tensor in pinned memory (a copy, or itself when already pinned): a
        ``to(device, non_blocking=True)`` from it is enqueued without waiting, and the
        tensor's bytes must not change until it has landed, as in PyTorch. cltorch's pinned
        memory is ordinary host memory that the OpenCL driver reads when the copy runs."""
        if self._storage.device.kind != "cpu":
            raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be "
                               "pinned")
        if self._storage.pinned:
            return self
        out = self.clone()
        out._storage.pinned = True
        return out

    def is_pinned(self, device=None):
        """Whether this tensor lives in pinned memory (``pin_memory``)."""
        return self._storage.pinned

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``; self when it
        already matches (unless ``copy=True``); ``non_blocking`` from pinned memory does not
        wait for the copy."""
        device, dtype, non_blocking, copy = _parse_to(self, args, kwargs)
        same_device = device is self._storage.device
        if same_device and dtype is self.dtype and not copy:
            return self
        if same_device:
            out = pointwise.apply("copy", [self], out_dtype=dtype)
        elif dtype is self.dtype:
            out = self._transfer(device, non_blocking)
        elif dtype is not dtypes.float64 or self._storage.device.supports_fp64:
            # cast where the values are, then move: fewer bytes when narrowing, and a float64
            # state loaded for float32 parameters never meets a device without fp64
            out = pointwise.apply("copy", [self], out_dtype=dtype)._transfer(device)
        else:
            out = pointwise.apply("copy", [self._transfer(device, non_blocking)], out_dtype=dtype)
        if self._requires_grad:
            home, home_dtype = self.device, self.dtype
            record(out, "ToCopyBackward0", (self,), lambda g: g.to(home, home_dtype))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to(_indexed("cuda", device), non_blocking=non_blocking)

    def opencl(self, device=None):
        return self.to(_indexed("opencl", device))

    def type_as(self, other):
        return self.to(other.dtype)

    # ---- host access ------------------------------------------------------------------------
    def _host_values(self) -> np.ndarray:
        """A NumPy copy of the values (bfloat16 as float32); waits for the device."""
        return self.dtype.to_numpy_values(pointwise.read_stored(self))

    def numpy(self, *, force=False):
        """A NumPy array sharing memory with this cpu tensor."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if self._storage.device.kind != "cpu":
            if not force:
                raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                                "Tensor.cpu() to copy the tensor to host memory first.")
            return self._host_values()
        if self.dtype is dtypes.bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16")
        return cpu_view(self).view()  # a new array object: the storage's cached one stays intact

    def tolist(self):
        return self._host_values().tolist()

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to "
                               "Scalar")
        return self._host_values().reshape(()).item()

    def __array__(self, dtype=None, copy=None):
        values = self._host_values()
        return values if dtype is None else values.astype(dtype, copy=False)

    def __len__(self):
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):
        if not self._shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self):
        if self.numel() != 1:
            count = "more than one" if self.numel() else "no"
            raise RuntimeError(f"Boolean value of Tensor with {count} values is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self._scalar_for("float"))

    def __int__(self):
        return int(self._scalar_for("int"))

    def _scalar_for(self, name):
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.item()

    def __index__(self):
        if self.dtype.category == 2 or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __format__(self, spec):
        return self.item().__format__(spec) if self.ndim == 0 else repr(self).__format__(spec)

    def __repr__(self):
        suffixes = []
        if self._storage.device.kind != registry.default().kind:
            suffixes.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            suffixes.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            suffixes.append("requires_grad=True")
        opts = _printing.PRINT_OPTS
        if self.numel() > opts.threshold:
            values = _printing.summarized(lambda idx: self[idx]._host_values(), self._shape,
                                          opts.edgeitems)
        else:
            values = self._host_values() if self.numel() else None
        return _printing.tensor_repr(values, self._shape, self.dtype, suffixes, self.numel(),
                                     pointwise.default_float())

    __str__ = __repr__


def _indexed(kind, device):
    if device is None:
        return kind
    if isinstance(device, int):
        return f"{kind}:{device}"
    return device


def _parse_to(tensor, args, kwargs):
    """(device, dtype, non_blocking, copy) of ``to``'s arguments, positional flags in
    PyTorch's order (non_blocking, then copy)."""
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    flags = [arg for arg in args if isinstance(arg, bool)] + [False, False]
    for arg in args:
        if isinstance(arg, Array):  # a tensor
            device, dtype = arg._storage.device, arg.dtype
        elif isinstance(arg, (dtypes.dtype, type)) or (isinstance(arg, str) and
                                                       arg.replace("torch.", "") in dtypes.BY_NAME):
            dtype = arg
        elif arg is not None and not isinstance(arg, bool):
            device = arg
    device = tensor._storage.device if device is None else registry.get(device)
    dtype = tensor.dtype if dtype is None else dtypes.to_dtype(dtype)
    return (device, dtype, kwargs.get("non_blocking", flags[0]), kwargs.get("copy", flags[1]))
