"""Fused pointwise chains (``kernels_cl/fused.mako``): the kernel cltorch.compile launches in
place of a chain of pointwise launches whose intermediates nothing else reads; and the same
chain as the epilogue of a GEMM whose product it alone reads (ops/gemm.py)."""
from __future__ import annotations

from typing import NamedTuple

from ..codegen import DIALECTS, render
from .launch import cached_kernel


class Epilogue(NamedTuple):
    """A chain of pointwise stages over one element (``kernels_cl/_epilogue.mako``)."""

    compute: object   # dtype every stage computes in
    out: object       # dtype of the output
    inputs: tuple     # (kind, dtype) per input: "c" contiguous, "s" strided, "v" scalar
    stages: tuple     # (expr, sources); a source is ("in", k), ("stage", j) or ("acc", 0)
    out_kind: str     # "c" or "s"
    ndim: int         # dims of the strided layout (0: all contiguous)
    groups: tuple = None  # a GEMM's epilogue: the dims of C (0 batch, 1 row, 2 column)
    # each of the ndim dims spans, so that its positions need no division (None: divide)


def argtypes(ep: Epilogue, index_np) -> tuple:
    """The argument types of ``_epilogue.mako``'s parameters for ``ep``."""
    out = (None, index_np) + (index_np,) * (ep.ndim if ep.out_kind == "s" else 0)
    return out + input_argtypes(ep, index_np)


def input_argtypes(ep: Epilogue, index_np) -> tuple:
    """The argument types of ``_epilogue.mako``'s input parameters (``input_params``)."""
    types = []
    for kind, _ in ep.inputs:
        if kind == "v":
            types.append(ep.compute.numpy)
        else:
            types += [None, index_np] + [index_np] * (ep.ndim if kind == "s" else 0)
    return tuple(types) + (index_np,) * ep.ndim


def kernel(device, ep: Epilogue, index: str, index_np):
    """The compiled fused kernel on ``device``: its arguments are the item count, then
    ``argtypes(ep)``'s."""
    return cached_kernel(device, ("fused", ep, index), lambda: (
        source(DIALECTS[device.kind], ep, index), "fused_pointwise",
        (index_np,) + argtypes(ep, index_np)))


def source(dialect, ep: Epilogue, index: str) -> str:
    """Source of one fused chain for one dialect (the template tests use it)."""
    return render("fused.mako", dialect, name="fused_pointwise", ep=ep, index=index)
