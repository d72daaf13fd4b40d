"""softmax and log_softmax along one dim, fused: the ``softmax.mako`` kernel (one pass per
line, no intermediate tensors), or NumPy on the cpu."""
from __future__ import annotations

import numpy as np

from ..codegen import DIALECTS, render
from ..codegen.vectors import VECTOR_BYTES
from .array import Array, check_dtype_supported, cpu_view, empty, store_values
from .launch import INT32_LIMIT, fitted_kernel, index_types
from .layout import collapse

_LOCAL = 256


def softmax(x: Array, dim: int, log: bool) -> Array:
    """softmax (or log_softmax) of floating-point ``x`` along ``dim`` (already normalised)."""
    compute = x.dtype.compute
    check_dtype_supported(x._device, compute)
    out = empty(type(x), x._shape, x.dtype, x._device)
    if not x._numel():
        return out
    if x._device.kind == "cpu":
        _softmax_numpy(x, dim, log, compute, out)
    else:
        _launch(x, dim, log, compute, out)
    return out


def _softmax_numpy(x, dim, log, compute, out):
    """Three passes and one temporary (a large softmax is memory-bound): the shifted values
    go straight into the result when it is stored in the compute type."""
    v = x.dtype.to_numpy_values(cpu_view(x)).astype(compute.numpy, copy=False)
    direct = out.dtype.storage_np == compute.numpy
    with np.errstate(all="ignore"):
        shifted = np.subtract(v, np.max(v, axis=dim, keepdims=True),
                              out=cpu_view(out) if direct else None)
        e = np.exp(shifted)
        total = np.sum(e, axis=dim, keepdims=True)
        if log:
            r = np.subtract(shifted, np.log(total), out=shifted)
        else:
            r = np.divide(e, total, out=shifted)
    if not direct:
        cpu_view(out)[...] = out.dtype.from_numpy_values(r)


def softmax_backward(g: Array, out: Array, dim: int, log: bool) -> Array:
    """The input gradient of softmax (log_softmax) from its output ``out`` and the output
    gradient ``g``: ``out * (g - sum(g * out))`` (``g - exp(out) * sum(g)``), no graph."""
    if g._device.kind != "cpu":
        from . import pointwise, reduce
        total = reduce.reduce("sum", g if log else pointwise.apply("mul", [g, out]), dim, True)
        if log:
            return pointwise.apply("sub", [g, pointwise.apply("mul", [pointwise.apply(
                "exp", [out]), total]), 1])
        return pointwise.apply("mul", [out, pointwise.apply("sub", [g, total, 1])])
    compute = out.dtype.compute.numpy
    vg, vo = (x.dtype.to_numpy_values(cpu_view(x)).astype(compute, copy=False) for x in (g, out))
    grad = empty(type(g), out._shape, out.dtype, g._device)
    with np.errstate(all="ignore"):
        if log:
            r = vg - np.exp(vo) * np.sum(vg, axis=dim, keepdims=True)
        else:
            r = vo * (vg - np.sum(vg * vo, axis=dim, keepdims=True))
    store_values(grad, r)
    return grad


def _launch(x, dim, log, compute, out):
    device = x._device
    kept = [d for d in range(len(x._shape)) if d != dim]
    sizes, (in_strides, out_strides) = collapse(
        tuple(x._shape[d] for d in kept),
        [tuple(x._strides[d] for d in kept), tuple(out._strides[d] for d in kept)])
    n = x._shape[dim]
    # a CPU device (PoCL) runs a group's items in a loop: one item per line, no barriers
    group = 1 if device.cpu_like else min(_LOCAL, device.local_size,
                                          1 << max(0, (n - 1).bit_length()))
    big = x._storage.nbytes > INT32_LIMIT or out._storage.nbytes > INT32_LIMIT
    width = VECTOR_BYTES // compute.itemsize if device.cpu_like and \
        x.dtype == compute and x._strides[dim] == 1 and out._strides[dim] == 1 else 0
    key = ("softmax", log, x.dtype, len(sizes), big, width)
    idx, cidx = index_types(big)
    kernel, group = fitted_kernel(device, key, group, lambda fit: (
        softmax_source(DIALECTS[device.kind], x.dtype, compute, log, len(sizes), fit, cidx,
                       width),
        "softmax", (None, None) + (idx,) * (5 + 3 * len(sizes))))
    m = x._numel() // n
    layout = [v for triple in zip(sizes, in_strides, out_strides) for v in triple]
    device.launch(kernel, m * group, [out._storage.buffer, x._storage.buffer, x._offset, m, n,
                                      x._strides[dim], out._strides[dim]] + layout, local=group)


def softmax_source(dialect, dtype, compute, log, kept_ndim, group_size, index, width=0) -> str:
    """Source of the softmax kernel for one dialect (the template tests use it); ``width``
    > 0: the CPU variant, in vectors of ``width``."""
    return render("softmax.mako", dialect, name="softmax", src=dtype, out=dtype, compute=compute,
                  log=log, kept_ndim=kept_ndim, group_size=group_size, index=index, width=width)
