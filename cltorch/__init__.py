"""cltorch: a PyTorch-compatible tensor library for every GPU vendor.

``import cltorch as torch``; tensors live on ``cpu`` (NumPy), ``opencl[:N]`` (any OpenCL
device) or ``cuda[:N]`` (NVIDIA through cuda-python); kernels come from one set of Mako
templates for both GPU dialects. ``cltorch.install_as_torch()`` (or ``cltorch run``) lets
programs written against ``import torch`` run unchanged.
"""
from . import autograd, dtypes as _dtypes
from ._devices import memory_allocated
from . import cuda, opencl, cpu  # noqa: E402  (device namespaces: torch.cuda & co.)
from .amp import autocast
from .amp.autocast_mode import (get_autocast_dtype, is_autocast_available,
                                is_autocast_enabled, set_autocast_enabled)
from ._printing import set_printoptions
from .backend import (BackendUnavailable, CompileError, OutOfMemoryError, device,
                      registry as _registry)
from .config import VERSION as __version__
from .dtypes import dtype
from .api import NAMESPACE as _NAMESPACE  # the tensor-level API; attaches Tensor's methods
from .api.random import Generator, default_generator
from .api.reduce import return_types
from .ops import pointwise as _pointwise
from .ops.layout import broadcast_shapes as _broadcast_shapes
from .tensor import Size, Tensor
from .autograd import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                       set_grad_enabled)

bool = _dtypes.bool_
uint8, int8, int16, int32, int64 = (_dtypes.uint8, _dtypes.int8, _dtypes.int16, _dtypes.int32,
                                    _dtypes.int64)
float16, bfloat16, float32, float64 = (_dtypes.float16, _dtypes.bfloat16, _dtypes.float32,
                                       _dtypes.float64)
half, float, double = float16, float32, float64
short, int, long = int16, int32, int64

globals().update(_NAMESPACE)
from . import linalg, random  # noqa: E402  (the torch.linalg and torch.random namespaces)



def is_tensor(obj) -> bool:
    """True for a cltorch Tensor."""
    return isinstance(obj, Tensor)


def broadcast_shapes(*shapes) -> Size:
    """The shape ``shapes`` broadcast to, as PyTorch computes it."""
    return Size(_broadcast_shapes(*(tuple(s) if not isinstance(s, int) else (s,)
                                    for s in shapes)))


def promote_types(type1, type2):
    return _dtypes.promote_types(type1, type2)


def can_cast(from_, to):
    return _dtypes.can_cast(from_, to)


def result_type(tensor1, tensor2):
    """The dtype an op on these two operands (tensors or numbers) computes its result in."""
    ops = [tensor1, tensor2]
    return _dtypes.result_type([t.dtype for t in ops if is_tensor(t) and t.ndim],
                               [t.dtype for t in ops if is_tensor(t) and not t.ndim],
                               [t for t in ops if not is_tensor(t)], get_default_dtype())


def set_default_dtype(d) -> None:
    """Default floating point dtype (float32 unless set; float64 also allowed)."""
    d = _dtypes.to_dtype(d)
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _pointwise.set_default_float(d)


def get_default_dtype():
    return _pointwise.default_float()


def set_default_device(device) -> None:  # noqa: F811 - PyTorch's parameter name
    """Where new tensors go when no device is given (None restores ``cpu``/$CLTORCH_DEVICE)."""
    _registry.set_default(device)


def get_default_device():
    return _registry.public(_registry.default())

from . import nn, optim, utils  # noqa: E402  (user-facing packages, built on the above)
from .serialization import load, save  # noqa: E402
from . import (accelerator, backends, distributed, distributions, func, hub,  # noqa: E402
               jit, multiprocessing, onnx, profiler, serialization, testing, version)
from .compat import *  # noqa: E402,F401,F403  (names programs reach for: inf, finfo...)
from . import compiler, _dynamo  # noqa: E402  (torch.compiler, torch._dynamo; torch.compile below)
from .compiler import compile  # noqa: E402,A001
from .torch_alias import install_as_torch, uninstall_as_torch  # noqa: E402
