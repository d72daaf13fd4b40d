"""What differs between OpenCL C and CUDA C++ that the prelude's macros cannot say."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import dtypes


@dataclass(frozen=True)
class Dialect:
    """A kernel language. Templates read these fields; only ``_prelude.mako`` branches on name."""

    name: str                       # "opencl" | "cuda"
    int64: str                      # 64-bit integer type name
    uint64: str                     # 64-bit unsigned integer type name
    int8: str                       # signed 8-bit type (CUDA's plain char may be unsigned)
    half_storage: str               # pointer type float16 buffers are declared with
    ctypes: dict = field(compare=False, hash=False, repr=False, default=None)

    def ctype(self, dt: dtypes.dtype) -> str:
        """C type of one stored element of ``dt``."""
        return self.ctypes[dt.name]

    def bits(self, dt: dtypes.dtype) -> str:
        """An integer C type of ``dt``'s size, for kernels that move values without arithmetic
        (so float16 needs no cl_khr_fp16)."""
        return {1: "unsigned char", 2: "unsigned short", 4: "unsigned int",
                8: self.int64}[dt.itemsize]


def _ctypes(int64, int8, half):
    return {"bool": "unsigned char", "uint8": "unsigned char", "int8": int8, "int16": "short",
            "int32": "int", "int64": int64, "float16": half, "bfloat16": "unsigned short",
            "float32": "float", "float64": "double"}


OPENCL = Dialect("opencl", "long", "unsigned long", "char", "half",
                 _ctypes("long", "char", "half"))
CUDA = Dialect("cuda", "long long", "unsigned long long", "signed char", "unsigned short",
               _ctypes("long long", "signed char", "unsigned short"))
DIALECTS = {"opencl": OPENCL, "cuda": CUDA}
