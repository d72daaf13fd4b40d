"""Names PyTorch programs reach for early, outside any op family: constants, ``finfo`` /
``iinfo``, thread counts, determinism and precision switches."""
from __future__ import annotations

import math
import os

import numpy as np

from . import dtypes as _dtypes
from .ops.pointwise import default_float

__all__ = ["inf", "nan", "pi", "e", "newaxis", "finfo", "iinfo", "set_num_threads",
           "get_num_threads", "set_num_interop_threads", "get_num_interop_threads",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "set_float32_matmul_precision",
           "get_float32_matmul_precision", "set_warn_always", "is_warn_always_enabled",
           "memory_format", "contiguous_format", "channels_last", "channels_last_3d",
           "preserve_format", "layout", "strided", "tril_indices", "triu_indices"]

inf, nan, pi, e, newaxis = math.inf, math.nan, math.pi, math.e, None


class memory_format:  # noqa: N801 - PyTorch's name
    """A memory format name. cltorch keeps every tensor in the default (row-major) layout:
    asking for another format is accepted and changes no value."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")


class layout:  # noqa: N801 - PyTorch's name
    """A tensor layout; cltorch tensors are all strided."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


strided = layout("strided")


def _triangle_indices(row, col, offset, upper, dtype, device):
    from .api.creation import tensor
    rows, cols = (np.triu_indices if upper else np.tril_indices)(row, offset, col)
    return tensor(np.stack([rows, cols]), dtype=dtype or _dtypes.int64, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the lower triangle of a row x col matrix."""
    return _triangle_indices(row, col, offset, False, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the upper triangle of a row x col matrix."""
    return _triangle_indices(row, col, offset, True, dtype, device)


class finfo:  # noqa: N801 - PyTorch's name
    """Machine limits of a floating dtype (``bits``, ``eps``, ``max``, ``min``, ``tiny``,
    ``smallest_normal``, ``resolution``)."""

    def __init__(self, type=None):
        self.dtype = _dtypes.to_dtype(type) if type is not None else default_float()
        if not self.dtype.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use "
                            "torch.iinfo to handle 'torch.finfo'")
        if self.dtype is _dtypes.bfloat16:
            self.bits, self.eps, self.max = 16, 0.0078125, 3.3895313892515355e+38
            self.tiny = self.smallest_normal = 1.1754943508222875e-38
            self.resolution = 0.01
        else:
            info = np.finfo(self.dtype.storage_np)
            self.bits, self.eps, self.max = info.bits, float(info.eps), float(info.max)
            self.tiny = self.smallest_normal = float(info.smallest_normal)
            self.resolution = float(str(info.resolution))
        self.min = -self.max

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype.name})")


class iinfo:  # noqa: N801 - PyTorch's name
    """Limits of an integer dtype (``bits``, ``min``, ``max``)."""

    def __init__(self, type):
        self.dtype = _dtypes.to_dtype(type)
        if self.dtype.is_floating_point:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo "
                            "to handle 'torch.iinfo'")
        info = np.iinfo(np.uint8 if self.dtype is _dtypes.bool_ else self.dtype.storage_np)
        self.bits, self.min, self.max = info.bits, int(info.min), int(info.max)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype.name})"


_threads = {"intra": None, "interop": None}


def set_num_threads(n: int) -> None:
    """Threads for the host math (NumPy's BLAS, through threadpoolctl where installed)."""
    if int(n) < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    _threads["intra"] = int(n)
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(int(n))
    except ImportError:
        pass


def get_num_threads() -> int:
    return _threads["intra"] or os.cpu_count() or 1


def set_num_interop_threads(n: int) -> None:
    _threads["interop"] = int(n)


def get_num_interop_threads() -> int:
    return _threads["interop"] or os.cpu_count() or 1


_determinism = {"on": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted: cltorch's kernels already give the same result on every run, except the
    float32/int32 atomic scatter-add, whose summation order can vary."""
    _determinism.update(on=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    return _determinism["on"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _determinism["warn_only"]


_matmul_precision = ["highest"]


def set_float32_matmul_precision(precision: str) -> None:
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision}: expected highest, high or medium")
    _matmul_precision[0] = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision[0]


_warn_always = [False]


def set_warn_always(b: bool) -> None:
    _warn_always[0] = bool(b)


def is_warn_always_enabled() -> bool:
    return _warn_always[0]
