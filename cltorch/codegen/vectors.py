"""OpenCL vector spellings for the CPU variants of templates (softmax.mako, cross_entropy.mako):
PoCL runs a vector exp in one call where LLVM vectorises no scalar loop calling exp. Width 1
spells the same code in scalars (the CUDA dialect has no OpenCL vectors; its devices never run
CPU variants, but every template renders and compiles in both dialects).

Loads and stores go through a vector typedef aligned to its element (``ct_vec``, from
``vdecl``): plain, possibly unaligned, vector moves. PoCL calls vloadn/vstoren and fmax out of
line: a softmax of 4096 x 1024 took 5.6 ms with them, 3.2 ms so (one thread)."""

# The CPU variants' vectors (ops/softmax.py, cross_entropy.py, gemm.py): 32 bytes, an AVX
# register. PoCL 3 failed to build 64-byte vector code on an AVX-512 CPU ("AVX vector argument
# ... without 'avx512f' enabled changes the ABI": it targets znver3).
VECTOR_BYTES = 32


def vtype(T: str, width: int) -> str:
    """The C type of ``width`` values of scalar type ``T``."""
    return T if width <= 1 else f"{T}{width}"


def vdecl(T: str, width: int, itemsize: int) -> str:
    """The declaration of ``ct_vec``, ``width`` values of ``T`` at the element's alignment."""
    return f"typedef {vtype(T, width)} ct_vec __attribute__((aligned({itemsize})));"


def vload(width: int, p: str) -> str:
    """Load ``width`` values from pointer expression ``p`` (global memory)."""
    return f"(*(GLOBAL const ct_vec*)({p}))"


def vstore(width: int, v: str, p: str) -> str:
    """Store vector ``v`` of ``width`` values at pointer expression ``p`` (global memory)."""
    return f"*(GLOBAL ct_vec*)({p}) = {v}"


def vmax(a: str, b: str) -> str:
    """The lane-wise larger of vectors ``a`` and ``b``; a NaN in ``a`` is skipped (as fmax)."""
    return f"({a} > {b} ? {a} : {b})"


def fold_lanes(T: str, v: str, width: int, op) -> tuple:
    """(C statements, the name holding the result): vector ``v``'s lanes combined by ``op``
    (a function of two C expressions), halving it."""
    lines, name = [], v
    while width > 1:
        width //= 2
        half = f"{v}{width}"
        lines.append(f"const {vtype(T, width)} {half} = {op(f'{name}.lo', f'{name}.hi')};")
        name = half
    return " ".join(lines), name
