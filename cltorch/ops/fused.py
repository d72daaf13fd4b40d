"""Fused pointwise chains (``kernels_cl/fused.mako``): the kernel cltorch.compile launches in
place of a chain of pointwise launches whose intermediates nothing else reads."""
from __future__ import annotations

from ..codegen import DIALECTS, render
from .launch import cached_kernel


def kernel(device, compute, out, inputs: tuple, stages: tuple, out_kind: str, ndim: int,
           index: str, index_np):
    """The compiled fused kernel on ``device`` (see fused.mako for the parameters); its
    arguments are laid out as a pointwise kernel's, with ``inputs`` as the operands."""
    key = ("fused", compute, out, inputs, stages, out_kind, ndim, index)

    def build():
        argtypes = [None, index_np] + [index_np] * (ndim if out_kind == "s" else 0)
        for kind, _ in inputs:
            if kind == "v":
                argtypes.append(compute.numpy)
            else:
                argtypes += [None, index_np] + [index_np] * (ndim if kind == "s" else 0)
        argtypes += [index_np] * (1 + ndim)
        return (source(DIALECTS[device.kind], compute, out, inputs, stages, out_kind, ndim,
                       index), "fused_pointwise", tuple(argtypes))
    return cached_kernel(device, key, build)


def source(dialect, compute, out, inputs, stages, out_kind, ndim, index) -> str:
    """Source of one fused chain for one dialect (the template tests use it)."""
    return render("fused.mako", dialect, name="fused_pointwise", compute=compute, out=out,
                  inputs=inputs, stages=stages, out_kind=out_kind, ndim=ndim, index=index)
