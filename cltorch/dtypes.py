"""The dtype table: every dtype cltorch knows, how it is stored and how it promotes.

A leaf module: it imports nothing from cltorch.  float16 and bfloat16 are stored in 16 bits and
computed in float32 on every backend; bfloat16 has no NumPy type, so its storage is uint16 bits.
"""
from __future__ import annotations

import builtins

import math

import numpy as np


class dtype:
    """A tensor element type, printed as PyTorch prints it (``torch.float32``)."""

    __slots__ = ("name", "itemsize", "storage_np", "category", "compute_name", "legacy_name")

    def __init__(self, name, itemsize, storage_np, category, compute_name, legacy_name):
        self.name = name                  # "float32"
        self.itemsize = itemsize          # bytes per element
        self.storage_np = np.dtype(storage_np)  # NumPy dtype of the stored bits
        self.category = category          # 0 bool, 1 integer, 2 floating point
        self.compute_name = compute_name  # dtype the kernels compute in
        self.legacy_name = legacy_name    # "Float" as in torch.FloatTensor

    def __repr__(self):
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))

    @property
    def is_floating_point(self) -> bool:
        return self.category == 2

    @property
    def is_signed(self) -> bool:
        return self.name not in ("bool", "uint8")

    @property
    def is_complex(self) -> bool:
        return False

    @property
    def compute(self) -> "dtype":
        """The dtype arithmetic on this dtype is done in (float32 for the 16-bit floats)."""
        return BY_NAME[self.compute_name]

    @property
    def numpy(self) -> np.dtype:
        """NumPy dtype of values (float32 for bfloat16, which NumPy lacks)."""
        return np.dtype(np.float32) if self is bfloat16 else self.storage_np

    def to_numpy_values(self, stored: np.ndarray) -> np.ndarray:
        """Stored bits -> NumPy values (only bfloat16 needs a conversion)."""
        if self is bfloat16:
            return (stored.astype(np.uint32) << 16).view(np.float32)
        return stored

    def from_numpy_values(self, values: np.ndarray) -> np.ndarray:
        """NumPy values -> stored bits, rounding to nearest even like the kernels do."""
        if self is bfloat16:
            return float32_to_bfloat16_bits(values)
        if self is bool_:
            return values.astype(np.bool_)
        with np.errstate(all="ignore"):
            return values.astype(self.storage_np)


def _by_name(name: str) -> "dtype":
    return BY_NAME[name]


def float32_to_bfloat16_bits(values) -> np.ndarray:
    """Round float32 values to bfloat16 (nearest even; NaN stays NaN) and return the bits."""
    with np.errstate(all="ignore"):
        bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    return np.where(nan, (bits >> 16) | np.uint32(0x40), rounded).astype(np.uint16)


bool_ = dtype("bool", 1, np.bool_, 0, "int32", "Bool")
uint8 = dtype("uint8", 1, np.uint8, 1, "int32", "Byte")
int8 = dtype("int8", 1, np.int8, 1, "int32", "Char")
int16 = dtype("int16", 2, np.int16, 1, "int32", "Short")
int32 = dtype("int32", 4, np.int32, 1, "int32", "Int")
int64 = dtype("int64", 8, np.int64, 1, "int64", "Long")
float16 = dtype("float16", 2, np.float16, 2, "float32", "Half")
bfloat16 = dtype("bfloat16", 2, np.uint16, 2, "float32", "BFloat16")
float32 = dtype("float32", 4, np.float32, 2, "float32", "Float")
float64 = dtype("float64", 8, np.float64, 2, "float64", "Double")

ALL = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
BY_NAME = {d.name: d for d in ALL}
ALIASES = {"half": float16, "float": float32, "double": float64, "short": int16, "int": int32,
           "long": int64, "bool": bool_}
FROM_NUMPY = {d.storage_np: d for d in ALL if d is not bfloat16}

# Promotion inside one category follows the PyTorch lattice; the pairs NumPy gets wrong differ.
_INT_ORDER = {uint8: 0, int8: 0, int16: 1, int32: 2, int64: 3}
_FLOAT_ORDER = {float16: 0, bfloat16: 0, float32: 1, float64: 2}


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's ``promote_types``: the smallest dtype both ``a`` and ``b`` convert to safely."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == 2:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if _FLOAT_ORDER[a] > _FLOAT_ORDER[b] else b
    if {a, b} == {uint8, int8}:
        return int16
    return a if _INT_ORDER[a] > _INT_ORDER[b] else b


def can_cast(src: dtype, dst: dtype) -> bool:
    """PyTorch's ``can_cast``: False only from floating point to integer or non-bool to bool."""
    if src.category > dst.category:
        return False
    return True


def scalar_dtype(value, default_float: dtype) -> dtype:
    """The dtype a Python scalar takes when it stands alone (``torch.tensor(3.0)``)."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return default_float
    raise TypeError(f"unsupported scalar type {type(value).__name__}")


def result_type(tensors, zero_dim, scalars, default_float: dtype) -> dtype:
    """PyTorch's ``result_type`` over dimensioned tensors, 0-dim tensors and Python scalars.

    Each group is promoted on its own; a lower group only matters when it is of a higher
    category (ATen's ``combine_categories``).
    """
    wrapped = _promote_all(scalar_dtype(s, default_float) for s in scalars)
    return _combine(_promote_all(tensors), _combine(_promote_all(zero_dim), wrapped))


def _promote_all(dtypes):
    out = None
    for d in dtypes:
        out = d if out is None else promote_types(out, d)
    return out


def _combine(higher, lower):
    if higher is None:
        return lower
    if lower is None or higher.category == 2:
        return higher
    if higher is bool_ or lower.category == 2:
        return promote_types(higher, lower)
    return higher


def to_dtype(obj) -> dtype:
    """Accept a cltorch dtype, a NumPy dtype or its name, or a Python type."""
    if isinstance(obj, dtype):
        return obj
    if obj is builtins.float:
        return float32
    if obj is builtins.int:
        return int64
    if obj is builtins.bool:
        return bool_
    if isinstance(obj, str):
        name = obj.replace("torch.", "")
        if name in BY_NAME:
            return BY_NAME[name]
        if name in ALIASES:
            return ALIASES[name]
    try:
        return FROM_NUMPY[np.dtype(obj)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported dtype {obj!r}") from None


# PyTorch's (c10's) names of the element types, as its overflow messages print them
_C10_NAMES = {"bool": "bool", "uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t",
              "int32": "int", "int64": "int64_t", "float16": "c10::Half",
              "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double"}


def _range(dt):
    if dt is bfloat16:
        return -3.3895313892515355e+38, 3.3895313892515355e+38
    info = np.finfo(dt.storage_np) if dt.category == 2 else np.iinfo(dt.storage_np)
    return float(info.min) if dt.category == 2 else int(info.min), \
        float(info.max) if dt.category == 2 else int(info.max)


_RANGES = {d: _range(d) for d in ALL if d is not bool_}


def check_fits(value, dt) -> None:
    """PyTorch's check on a Python number written into elements of ``dt`` (fill_,
    masked_fill, index_fill): a RuntimeError when it would overflow (infinity and NaN fit a
    floating type; nothing overflows bool)."""
    if dt is bool_ or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low, high = _RANGES[dt]
    if dt is uint8 and isinstance(value, int):
        low = -high  # c10 lets a negative integer wrap into uint8, down to -255
    finite = value == value and value not in (math.inf, -math.inf)
    if (dt.category == 2 and finite and not low <= value <= high) or (
            dt.category < 2 and (not finite or not low <= value <= high)):
        raise RuntimeError(f"value cannot be converted to type {_C10_NAMES[dt.name]} without "
                           f"overflow")
