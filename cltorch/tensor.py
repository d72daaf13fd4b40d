"""Tensor: a strided view on device memory, with PyTorch's view, conversion and printing API.

This module holds what a tensor is (storage, shape, strides, views, copies, autograd state);
its transfers and host access (``to``, ``numpy``, ``item``, printing) are the base class in
``tensor_host.py``. The ops, and the methods that create tensors or index with tensors, are
attached by the tensor-level API package ``cltorch.api``, which builds on this module.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .backend import registry
from .ops import pointwise
from .ops.array import Array, Storage, from_stored, same_device
from .ops.layout import contiguous_strides, numel
from .autograd import inplace
from .backend.capture import ACTIVE as _CAPTURING
from .autograd.graph import record
from .autograd.engine import sum_to
from .tensor_host import HostMethods


class Size(tuple):
    """Tensor shape: a tuple that prints as ``torch.Size([2, 3])``."""

    def __repr__(self):
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return numel(self)


def normalize_dim(dim: int, ndim: int) -> int:
    """Wrap a negative dim; IndexError in PyTorch's words when out of range."""
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(f"Dimension out of range (expected to be in range of [{low}, {high}], "
                         f"but got {dim})")
    return dim % max(ndim, 1)


def sizes_from_args(args) -> tuple:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean the shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(int(a.__index__()) for a in args)
    except AttributeError:
        raise TypeError(f"size must be a sequence of ints, got {args!r}") from None


def view_strides(shape, strides, new_shape):
    """Strides of ``new_shape`` over the same memory, or None if no view can say it (ATen's
    ``computeStride``)."""
    if numel(shape) == 0 or not shape:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d, chunk = len(new_shape) - 1, strides[-1]
    tensor_numel = view_numel = 1
    for d in reversed(range(len(shape))):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk, tensor_numel, view_numel = strides[d - 1], 1, 1
    return tuple(new_strides) if view_d == -1 else None


def infer_size(new_shape, total: int) -> tuple:
    """Resolve one -1 in a requested shape."""
    if new_shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = numel(s for s in new_shape if s != -1)
    if -1 in new_shape:
        if known == 0 or total % known:
            raise RuntimeError(f"shape '{list(new_shape)}' is invalid for input of size {total}")
        new_shape = tuple(total // known if s == -1 else s for s in new_shape)
    if numel(new_shape) != total or any(s < 0 for s in new_shape):
        raise RuntimeError(f"shape '{list(new_shape)}' is invalid for input of size {total}")
    return new_shape


class Tensor(HostMethods, Array):
    """A multi-dimensional array on a device, with PyTorch's API.

    ``Tensor(2, 3)`` makes an uninitialised float tensor (the legacy constructor);
    ``Tensor([1, 2])`` copies data. Prefer ``cltorch.tensor``/``zeros``/``empty``.

    Example:
        >>> import cltorch as torch
        >>> torch.tensor([[1., 2.], [3., 4.]]).t().tolist()
        [[1.0, 3.0], [2.0, 4.0]]
    """

    __hash__ = object.__hash__
    __array_priority__ = 1000  # NumPy defers `ndarray + tensor` to the tensor
    # Autograd fields: class defaults, so that making a tensor on the hot path sets nothing.
    _requires_grad = False
    _grad = None
    grad_fn = None
    _output_nr = 0             # which output of grad_fn this tensor is
    _grad_accumulator = None   # weakref to a leaf's AccumulateGrad node
    _backward_hooks = None     # a leaf's hooks, run before its gradient is accumulated
    _post_accumulate_hooks = None  # a leaf's hooks, run after (register_post_accumulate_...)
    _retains_grad = False
    _base = None               # the tensor whose storage this view shares (None: not a view)

    def __init__(self, *args, device=None):
        pass

    # ---- metadata ---------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._shape)

    @property
    def device(self):
        return registry.public(self._storage.device)

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def is_cuda(self) -> bool:
        """On an accelerator that programs know as ``cuda`` (see ``cltorch.cuda``)."""
        return registry.device_type(self._storage.device) == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self._storage.device.kind == "cpu"

    @property
    def is_opencl(self) -> bool:
        return self._storage.device.kind == "opencl"

    is_xpu = is_mps = is_meta = is_sparse = is_quantized = is_mkldnn = is_nested = False

    def get_device(self) -> int:
        """The device index; -1 on the cpu."""
        return -1 if self.is_cpu else self.device.index

    @property
    def grad(self):
        """The gradient accumulated by ``backward`` (None until then)."""
        return self._grad

    @grad.setter
    def grad(self, value):
        # PyTorch's checks: a gradient of another shape, dtype or device would make every
        # later optimizer kernel read or write out of bounds
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad "
                                f"of type {type(value).__name__}")
            if value is self:
                raise RuntimeError("can't assign Variable as its own grad")
            if value.dtype is not self.dtype:
                raise RuntimeError("assigned grad has data of a different type")
            if not same_device(self._storage.device, value._storage.device):
                raise RuntimeError("assigned grad has data located on a different device")
            if value._shape != self._shape:
                raise RuntimeError("assigned grad has data of a different size")
        if _CAPTURING[0] is not None:  # cltorch.compile: replays set .grad as eager does
            old = self._grad
            _CAPTURING[0].note_grad(self, consulted=value is not None and old is not None
                                    and value._storage is old._storage)
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    # ---- autograd ---------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor record a graph for autograd."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if self.grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        if value and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError("only Tensors of floating point and complex dtype can require "
                               "gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    @property
    def _version(self) -> int:
        return self._storage.version

    @property
    def data(self):
        """The same data, detached from the graph."""
        return self.detach()

    @data.setter
    def data(self, other):
        self._storage, self._shape, self._strides = other._storage, other._shape, other._strides
        self._offset, self.dtype = other._offset, other.dtype

    def detach(self):
        """A tensor sharing this one's data that is not part of any graph."""
        return type(self)._make(self._storage, self._shape, self._strides, self._offset,
                                self.dtype)

    def detach_(self):
        """Detach this tensor from the graph, in place (it becomes a leaf)."""
        self.grad_fn, self._requires_grad, self._output_nr = None, False, 0
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor w.r.t. the graph leaves into their ``.grad``.

        A non-scalar tensor needs ``gradient`` (the vector of the vector-Jacobian product).
        """
        from .autograd import engine
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, hook):
        """``hook(grad)`` runs when this tensor's gradient is computed; it may return a new
        gradient. Returns a handle whose ``remove()`` unregisters it."""
        from .autograd.graph import _Hooks, _add_hook
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return _add_hook(self.grad_fn._tensor_hooks(self._output_nr), hook)
        if self._backward_hooks is None:
            self._backward_hooks = _Hooks()
        return _add_hook(self._backward_hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs after a backward has accumulated this leaf's gradient into
        its ``.grad`` (DistributedDataParallel starts a bucket's all-reduce there). Returns a
        handle whose ``remove()`` unregisters it."""
        from .autograd.graph import _Hooks, _add_hook
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = _Hooks()
        return _add_hook(self._post_accumulate_hooks, hook)

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        import weakref
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        me = weakref.ref(self)

        def keep(grad):
            tensor = me()
            if tensor is not None:
                g = grad if grad.requires_grad else grad.detach()
                tensor.grad = g.clone() if tensor.grad is None else tensor.grad + g
        self.grad_fn._tensor_hooks(self._output_nr)[-1] = keep

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        """The last two dims swapped (a view)."""
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of "
                               f"matrices. Got {self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    mH = mT  # real dtypes only: the conjugate transpose is the transpose

    @property
    def H(self):
        if self.ndim > 2:
            raise RuntimeError("tensor.H is only supported on matrices (2-D tensors).")
        return self.T

    def size(self, dim=None):
        return self.shape if dim is None else self._shape[normalize_dim(dim, self.ndim)]

    def dim(self) -> int:
        return len(self._shape)

    ndimension = dim

    def numel(self) -> int:
        return numel(self._shape)

    nelement = numel

    def stride(self, dim=None):
        return tuple(self._strides) if dim is None else \
            self._strides[normalize_dim(dim, self.ndim)]

    def storage_offset(self) -> int:
        return self._offset

    def is_contiguous(self, memory_format=None) -> bool:
        """Row-major contiguity; with ``memory_format=torch.channels_last``, whether a 4-D
        tensor is laid out NHWC (cltorch makes row-major tensors: formats are accepted and
        change no layout, so this is True only for tensors that came in as NHWC views)."""
        name = getattr(memory_format, "name", "contiguous_format")
        if name in ("channels_last", "channels_last_3d") and self.ndim in (4, 5):
            order = [0] + list(range(2, self.ndim)) + [1]  # N, spatial..., C
            shape = [self._shape[d] for d in order]
            strides = [self._strides[d] for d in order]
            from .ops.layout import is_contiguous
            return is_contiguous(tuple(shape), tuple(strides))
        return self._is_contiguous()

    def element_size(self) -> int:
        return self.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return False

    def storage(self):
        """The storage under this view (shared by every view of it)."""
        return TypedStorage(self._storage, self.dtype)

    untyped_storage = storage

    def data_ptr(self) -> int:
        return TypedStorage(self._storage, self.dtype).data_ptr() + \
            self._offset * self.dtype.itemsize

    def type(self, dtype=None, non_blocking=False):
        """Without argument the legacy type name (``torch.FloatTensor``); else a conversion."""
        if dtype is None:
            kind = self.device.type
            middle = "" if kind == "cpu" else f"{kind}."
            return f"torch.{middle}{self.dtype.legacy_name}Tensor"
        if isinstance(dtype, type) and hasattr(dtype, "device_type"):  # torch.FloatTensor
            return self.to(dtype.device_type, dtype.dtype)
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            device = "cuda" if dtype.startswith("torch.cuda.") else "cpu"
            legacy = dtype.split(".")[-1][:-len("Tensor")]
            dtype = next(d for d in dtypes.ALL if d.legacy_name == legacy)
            return self.to(device, dtype)
        return self.to(dtypes.to_dtype(dtype))

    # ---- views ------------------------------------------------------------------------------
    def _view(self, shape, strides, offset=None, backward=None, name="ViewBackward0"):
        """A tensor sharing this one's storage. ``backward(grad)`` maps the view's gradient to
        this tensor's (Tensor ops, so it can itself be differentiated)."""
        out = type(self)._make(self._storage, tuple(shape), tuple(strides),
                               self._offset if offset is None else offset, self.dtype)
        out._base = self if self._base is None else self._base
        if self._requires_grad and backward is not None:
            record(out, name, (self,), backward)
        return out

    def _reshaped(self, shape, strides, name="ViewBackward0"):
        """A view with the same elements in the same order (view, reshape, squeeze...)."""
        old = self._shape
        return self._view(shape, strides, backward=lambda g: g.reshape(old), name=name)

    def view(self, *shape):
        """The same data with another shape (one dim may be -1); never copies."""
        if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
            raise NotImplementedError("view(dtype) is not supported by cltorch yet")
        shape = infer_size(sizes_from_args(shape), self.numel())
        strides = view_strides(self._shape, self._strides, shape)
        if strides is None:
            raise RuntimeError("view size is not compatible with input tensor's size and stride "
                               "(at least one dimension spans across two contiguous subspaces)."
                               " Use .reshape(...) instead.")
        return self._reshaped(shape, strides)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape(self, *shape):
        """A view when the strides allow it, else a contiguous copy."""
        shape = infer_size(sizes_from_args(shape), self.numel())
        strides = view_strides(self._shape, self._strides, shape)
        if strides is None:
            return self.contiguous().view(shape)
        return self._reshaped(shape, strides)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = normalize_dim(start_dim, self.ndim), normalize_dim(end_dim, self.ndim)
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self._shape[:start] + (-1 if self.numel() else 0,) + self._shape[end + 1:]
        if self.numel() == 0:
            shape = self._shape[:start] + (numel(self._shape[start:end + 1]),) + \
                self._shape[end + 1:]
        return self.reshape(shape)

    def squeeze(self, dim=None):
        if dim is None:
            dims = range(self.ndim)
        else:
            dims = [normalize_dim(d, self.ndim) for d in (dim if isinstance(dim, (tuple, list))
                                                          else (dim,))]
        keep = [d for d in range(self.ndim) if not (d in dims and self._shape[d] == 1)]
        return self._reshaped([self._shape[d] for d in keep], [self._strides[d] for d in keep],
                              "SqueezeBackward0")

    def unsqueeze(self, dim):
        dim = normalize_dim(dim, self.ndim + 1)
        stride = self._shape[dim] * self._strides[dim] if dim < self.ndim else 1
        return self._reshaped(self._shape[:dim] + (1,) + self._shape[dim:],
                              self._strides[:dim] + (stride,) + self._strides[dim:],
                              "UnsqueezeBackward0")

    def expand(self, *sizes):
        """A view repeating size-1 dims (stride 0); -1 keeps a size."""
        sizes = sizes_from_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"expand(torch.{self.type().split('.')[-1]}{{{list(self._shape)}}}"
                               f", size={list(sizes)}): the number of sizes provided "
                               f"({len(sizes)}) must be greater or equal to the number of "
                               f"dimensions in the tensor ({self.ndim})")
        lead = len(sizes) - self.ndim
        shape, strides = list(sizes[:lead]), [0] * lead
        for size, old, stride in zip(sizes[lead:], self._shape, self._strides):
            if size == -1 or size == old:
                shape.append(old)
                strides.append(stride)
            elif old == 1:
                shape.append(size)
                strides.append(0)
            else:
                raise RuntimeError(f"The expanded size of the tensor ({size}) must match the "
                                   f"existing size ({old}) at non-singleton dimension "
                                   f"{len(shape)}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                                   f"{list(self._shape)}")
        if any(s < 0 for s in shape[:lead]):
            raise RuntimeError("The expanded size of the tensor (-1) isn't allowed in a leading,"
                               " non-existing dimension 0")
        old = self._shape
        return self._view(shape, strides, backward=lambda g: sum_to(g, old),
                          name="ExpandBackward0")

    def expand_as(self, other):
        return self.expand(other.shape)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def permute(self, *dims):
        dims = [normalize_dim(d, self.ndim) for d in sizes_from_args(dims)]
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute(): number of dims don't match in permute: input.dim() "
                               f"= {self.ndim} is not equal to len(dims) = {len(dims)}")
        if sorted(dims) != list(range(self.ndim)):
            raise RuntimeError("permute(): duplicate dims are not allowed.")
        inverse = [dims.index(d) for d in range(self.ndim)]
        return self._view([self._shape[d] for d in dims], [self._strides[d] for d in dims],
                          backward=lambda g: g.permute(inverse), name="PermuteBackward0")

    def transpose(self, dim0, dim1):
        d0, d1 = normalize_dim(dim0, self.ndim), normalize_dim(dim1, self.ndim)
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = d1, d0
        return self.permute(dims) if self.ndim else self

    swapaxes = swapdims = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def narrow(self, dim, start, length):
        dim = normalize_dim(dim, self.ndim)
        size = self._shape[dim]
        start = start + size if start < 0 else start
        if not 0 <= start <= size or length < 0 or start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                               f"({size}).")
        index = [slice(None)] * dim + [slice(start, start + length)]
        return self[tuple(index)]

    def select(self, dim, index):
        dim = normalize_dim(dim, self.ndim)
        return self[(slice(None),) * dim + (index,)]

    def unbind(self, dim=0):
        dim = normalize_dim(dim, self.ndim)
        return tuple(self.select(dim, i) for i in range(self._shape[dim]))

    # ---- copies and conversions -------------------------------------------------------------
    def contiguous(self, memory_format=None):
        return self if self._is_contiguous() else self.clone()

    def clone(self, memory_format=None):
        out = pointwise.apply("copy", [self], out_dtype=self.dtype)
        if self._requires_grad:
            record(out, "CloneBackward0", (self,), lambda g: g)
        return out

    def copy_(self, src, non_blocking=False):
        """Copy ``src`` (broadcast, any dtype, any device) into this tensor, in place."""
        if not isinstance(src, Tensor):
            raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
        if inplace.tracked(self, (src,)):
            return inplace.write(self, lambda: src.to(self.device, self.dtype).expand(
                self._shape))
        if src._storage.device is not self._storage.device:
            src = src._transfer(self._storage.device, non_blocking)
        pointwise.apply("copy", [src], out=self, inplace=True)
        return self

    def __reduce_ex__(self, protocol):
        """Pickling (DataLoader workers, multiprocessing): the stored values, the dtype and the
        device; not the graph."""
        return (_rebuild, (pointwise.read_stored(self), self.dtype.name, str(self.device),
                           self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            if self.grad_fn is not None:
                raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                                   "support the deepcopy protocol at the moment.  If you were "
                                   "attempting to deepcopy a module, this may be because of a "
                                   "torch.nn.utils.weight_norm usage, see "
                                   "https://github.com/pytorch/pytorch/pull/103001")
            copied = self.detach().clone()
            copied._requires_grad = self._requires_grad
            memo[id(self)] = copied
        return memo[id(self)]

    def fill_(self, value):
        if isinstance(value, Tensor):
            value = value.item()
        dtypes.check_fits(value, self.dtype)
        if inplace.tracked(self):
            return inplace.write(self, lambda: self.new_full(self._shape, value))
        pointwise.apply("copy", [value], out=self, inplace=True)
        return self

    def zero_(self):
        return self.fill_(0)


def _rebuild(stored, dtype_name, device, requires_grad):
    """A tensor from its pickled stored values (see ``Tensor.__reduce_ex__``)."""
    t = from_stored(Tensor, np.ascontiguousarray(stored), dtypes.BY_NAME[dtype_name],
                    registry.get(device))
    t._requires_grad = requires_grad
    return t


def _conversion(dtype):
    def convert(self):
        return self.to(dtype)
    convert.__doc__ = f"``self.to({dtype!r})``."
    return convert


for _name, _dtype in (("float", dtypes.float32), ("double", dtypes.float64),
                      ("half", dtypes.float16), ("bfloat16", dtypes.bfloat16),
                      ("long", dtypes.int64), ("int", dtypes.int32), ("short", dtypes.int16),
                      ("char", dtypes.int8), ("byte", dtypes.uint8), ("bool", dtypes.bool_)):
    setattr(Tensor, _name, _conversion(_dtype))


class TypedStorage:
    """The memory a tensor views: ``len`` counts elements of the tensor's dtype."""

    def __init__(self, storage: Storage, dtype):
        self._storage, self.dtype = storage, dtype

    @property
    def device(self):
        return registry.public(self._storage.device)

    def size(self) -> int:
        return self._storage.nbytes // self.dtype.itemsize

    __len__ = size

    def nbytes(self) -> int:
        return self._storage.nbytes

    def element_size(self) -> int:
        return self.dtype.itemsize

    def data_ptr(self) -> int:
        buffer = self._storage.buffer
        if buffer is None:
            return 0
        if isinstance(buffer, np.ndarray):
            return buffer.ctypes.data
        return int(getattr(buffer, "ptr", None) or buffer.int_ptr)

    def tolist(self):
        flat = Tensor._make(self._storage, (self.size(),), (1,), 0, self.dtype)
        return flat.tolist()
