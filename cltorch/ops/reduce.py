"""Reductions over any dims of any strided tensor: one template (``reduce.mako``), two passes
when few outputs each reduce many elements, and a NumPy twin on the cpu.

A row gives the accumulator's start value, the per-element map, the combine and the finishing
expression; ``arg`` rows (argmax/argmin) carry the index of the best element instead.

``grad`` is the derivative, as in the pointwise table: (what it needs saved, "x" for the input
and "o" for the result; a function of the output gradient ``g`` and ``s``, which holds the saved
``s.x``/``s.out``, the input's ``s.shape``, the reduced ``s.dims`` (sorted), ``s.keepdim`` and,
for ``arg`` rows, the chosen ``s.index``), returning the input's gradient. It is written with
Tensor methods, so that it can be differentiated again. Rows without ``grad`` give integers or
bools. ``node`` names the autograd node, as PyTorch names it.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..backend import capture
from ..codegen import DIALECTS, render
from . import fused
from .launch import INT32_LIMIT, fitted_kernel, if_fits, index_types
from .array import Array, adopt_values, check_dtype_supported, cpu_view, empty, quietly
from .layout import collapse, numel

_LOCAL = 256
REDUCE_COLUMNS = 32  # adjacent outputs per work-group of a column reduction (a GPU's 128 bytes)
# CPU variants (PoCL, one thread per work-group): accumulators per row, wide enough for LLVM to
# vectorise (16 floats: two AVX registers); outputs per column block (1 KiB of floats a row: a
# narrower block walks more rows apart: a column sum of 4096 x 4096 on PoCL took 11.0 ms with
# 64, 9.0 with 128, 6.5 with 256, against NumPy's 4.8)
CPU_LANES = 16
CPU_BLOCK = 256


@dataclass(frozen=True, eq=False)
class Reduction:
    name: str
    init: str             # "0", "1", "low" (lowest value), "high" (highest value)
    combine: str          # over accumulators a, b
    numpy: object         # fn(values, axis) on compute-typed values
    map: str = "v"        # per element, over v
    post: str = "a"       # finish, over a and ct_count
    arg: str = ""         # "max" / "min": index of the best element
    result: str = "same"  # same | sum (ints -> int64) | bool | float (floats only) | index
    nonempty: bool = False  # refuses to reduce zero elements (max, argmax, ...)
    grad: tuple = None    # (saved, fn(g, s) -> input gradient), see the module docstring
    node: str = ""        # the autograd node's name


def unreduce(g, shape, dims, keepdim):
    """``g`` of a reduction over ``dims`` broadcast back to the input ``shape``."""
    if not keepdim:
        for d in dims:
            g = g.unsqueeze(d)
    return g.expand(shape)


def evenly(g, x, out, dims, keepdim):
    """The gradient of amax/amin: shared equally by the elements equal to the result."""
    hit = (x == unreduce(out, x._shape, dims, keepdim)).to(g.dtype)
    count = hit.sum(tuple(dims), keepdim=True)
    return unreduce(g, x._shape, dims, keepdim) * hit / count


def _to_index(g, s):
    """max/min over a dim: ``g`` scattered to the chosen index."""
    d, index = (s.dims[0] if s.dims else 0), s.index
    if not s.keepdim:
        g, index = g.unsqueeze(d), index.unsqueeze(d)
    return g.new_zeros(s.shape).scatter_(d, index, g)  # into the fresh zeros: no second copy


def _exclusive_cumprod(x, d):
    """The product of the elements before each one along ``d`` (1 for the first): exact with
    zeros, unlike ``cumprod / x``."""
    first = x.new_zeros(1, dtype=dtypes.int64)
    return x.roll(1, d).index_fill(d, first, 1.0).cumprod(d)


def _prod_grad(g, s):
    """d prod / dx_i = the product of the other elements: exclusive products from the left
    times those from the right (one dim, or all dims through the flattened input)."""
    x = s.x
    if len(s.dims) != 1 or x.ndim == 1:
        x = x.reshape(-1)
        left, right = _exclusive_cumprod(x, 0), _exclusive_cumprod(x.flip([0]), 0).flip([0])
        return (g.reshape(()) * left * right).reshape(s.shape)
    d = s.dims[0]
    left, right = _exclusive_cumprod(x, d), _exclusive_cumprod(x.flip([d]), d).flip([d])
    return unreduce(g, s.shape, s.dims, s.keepdim) * left * right


def _norm_grad(ord):
    def grad(g, s):
        x, out, dims, keepdim = s.x, s.out, s.dims, s.keepdim
        if ord == 0:
            return x.new_zeros(x.shape)
        if ord == 1:
            return unreduce(g, x._shape, dims, keepdim) * x.sign()
        if ord == 2:  # x / |x|, and 0 where the norm is 0 (PyTorch's subgradient)
            scale = unreduce(g / out.masked_fill(out == 0, 1.0), x._shape, dims, keepdim)
            return (x * scale).masked_fill(unreduce(out == 0, x._shape, dims, keepdim), 0.0)
        return evenly(g, x.abs(), out, dims, keepdim) * x.sign()  # +-inf: the extreme |x| wins
    return grad


def _count(s):
    count = 1
    for d in s.dims:
        count *= s.shape[d]
    return count


_SPREAD = ("", lambda g, s: unreduce(g, s.shape, s.dims, s.keepdim))
_EVENLY = ("xo", lambda g, s: evenly(g, s.x, s.out, s.dims, s.keepdim))
_NORM = "LinalgVectorNormBackward0"


def _np_arg(fn):
    def arg(values, axis):
        if len(axis) == 1:  # in place: no moved copy of the values
            return fn(values, axis=axis[0])
        moved = np.moveaxis(values, axis, range(-len(axis), 0))
        return fn(moved.reshape(moved.shape[:moved.ndim - len(axis)] + (-1,)), axis=-1)
    return arg


def _np_norm(p):
    return lambda v, axis: np.sum(np.abs(v) ** p, axis=axis) ** (1 / p)


def _np_extreme(fn, values, axis):
    return fn(values, axis=axis)


ROWS = [
    Reduction("sum", "0", "a + b", lambda v, axis: np.sum(v, axis=axis), result="sum",
              grad=_SPREAD, node="SumBackward1"),
    Reduction("nansum", "0", "a + b", lambda v, axis: np.nansum(v, axis=axis),
              map="(v != v) ? 0 : v", result="sum", node="NansumBackward0",
              grad=("x", lambda g, s: unreduce(g, s.shape, s.dims, s.keepdim).masked_fill(
                  s.x.isnan(), 0.0))),
    Reduction("prod", "1", "a * b", lambda v, axis: np.prod(v, axis=axis), result="sum",
              grad=("x", _prod_grad), node="ProdBackward0"),
    Reduction("mean", "0", "a + b", lambda v, axis: np.mean(v, axis=axis), post="a / ct_count",
              result="float", node="MeanBackward1",
              grad=("", lambda g, s: unreduce(g / _count(s), s.shape, s.dims, s.keepdim))),
    Reduction("amax", "low", "ct_max(a, b)", lambda v, axis: np.max(v, axis=axis),
              nonempty=True, grad=_EVENLY, node="AmaxBackward0"),
    Reduction("amin", "high", "ct_min(a, b)", lambda v, axis: np.min(v, axis=axis),
              nonempty=True, grad=_EVENLY, node="AminBackward0"),
    Reduction("all", "1", "a && b", lambda v, axis: np.all(v != 0, axis=axis), map="v != 0",
              result="bool"),
    Reduction("any", "0", "a || b", lambda v, axis: np.any(v != 0, axis=axis), map="v != 0",
              result="bool"),
    Reduction("argmax", "low", "", _np_arg(np.argmax), arg="max", result="index",
              nonempty=True, grad=("", _to_index), node="MaxBackward0"),
    Reduction("argmin", "high", "", _np_arg(np.argmin), arg="min", result="index",
              nonempty=True, grad=("", _to_index), node="MinBackward0"),
    Reduction("norm1", "0", "a + b", _np_norm(1), map="fabs(v)", result="float",
              grad=("xo", _norm_grad(1)), node=_NORM),
    Reduction("norm2", "0", "a + b", lambda v, axis: np.sqrt(np.sum(v * v, axis=axis)),
              map="v * v", post="sqrt(a)", result="float", grad=("xo", _norm_grad(2)),
              node=_NORM),
    Reduction("norm_inf", "0", "ct_max(a, b)",
              lambda v, axis: np.max(np.abs(v), axis=axis, initial=0), map="fabs(v)",
              result="float", grad=("xo", _norm_grad(math.inf)), node=_NORM),
    Reduction("norm_ninf", "high", "ct_min(a, b)",
              lambda v, axis: np.min(np.abs(v), axis=axis, initial=np.inf), map="fabs(v)",
              result="float", grad=("xo", _norm_grad(-math.inf)), node=_NORM),
    Reduction("norm0", "0", "a + b", lambda v, axis: np.sum(v != 0, axis=axis),
              map="(v != 0)", result="float", grad=("xo", _norm_grad(0)), node=_NORM),
]
TABLE = {r.name: r for r in ROWS}


def normalize_dims(dim, ndim) -> tuple:
    """Reduced dims, sorted; None (or ()) means all. IndexError / RuntimeError as PyTorch."""
    if dim is None or dim == () or dim == []:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in dims:
        low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
        if not low <= d <= high:
            raise IndexError(f"Dimension out of range (expected to be in range of [{low}, "
                             f"{high}], but got {d})")
        d %= max(ndim, 1)
        if d in out:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(sorted(d for d in out if d < ndim))


def result_dtypes(red: Reduction, dtype, requested=None) -> tuple:
    """(dtype the kernel computes in, result dtype)."""
    if requested is not None and red.result in ("sum", "float", "same"):
        if red.result == "float" and requested.category < 2:
            raise RuntimeError(f"{red.name}(): the dtype argument must be a floating point "
                               f"dtype, got {requested!r}")
        return requested.compute, requested
    if red.result == "sum":
        out = dtypes.int64 if dtype.category < 2 else dtype
        return out.compute, out
    if red.result == "float" and dtype.category < 2:
        raise RuntimeError(f"{red.name}(): could not infer output dtype. Input dtype must be "
                           f"either a floating point or complex dtype. Got: "
                           f"{dtype.legacy_name}")
    if red.result == "bool":
        return dtype.compute, dtypes.bool_
    return dtype.compute, dtype


def reduce(red: Reduction | str, x: Array, dim=None, keepdim=False, dtype=None):
    """``red`` of ``x`` over ``dim``; for arg rows returns (values, indices)."""
    red = TABLE[red] if isinstance(red, str) else red
    dims = normalize_dims(dim, len(x._shape))
    compute, result = result_dtypes(red, x.dtype, dtype)
    check_dtype_supported(x._device, compute)
    kept = [d for d in range(len(x._shape)) if d not in dims]
    out_shape = tuple(x._shape[d] for d in kept)
    k = numel(x._shape[d] for d in dims)
    if red.nonempty and k == 0 and x._numel() == 0:
        _empty_error(red, dim, dims)
    cls = type(x)
    if x._device.kind == "cpu" and not red.arg and k and numel(out_shape):
        values = _reduced_numpy(red, x, dims, compute, result, out_shape)
        return _reshape(values, _kept_shape(x, dims)) if keepdim else values
    values = empty(cls, out_shape, x.dtype if red.arg else result, x._device)
    index = empty(cls, out_shape, dtypes.int64, x._device) if red.arg else None
    if numel(out_shape):
        if x._device.kind == "cpu":
            _reduce_numpy(red, x, dims, compute, values, index)
        else:
            _reduce_kernel(red, x, kept, dims, compute, values, index)
    if keepdim:
        shape = _kept_shape(x, dims)
        values, index = (None if t is None else _reshape(t, shape) for t in (values, index))
    return (values, index) if red.arg else values


def _kept_shape(x, dims) -> tuple:
    return tuple(1 if d in dims else s for d, s in enumerate(x._shape))


def _reduced_numpy(red, x, dims, compute, result, shape):
    """A non-empty cpu reduction into a new array: NumPy's result becomes its storage."""
    if numel(shape) * result.itemsize >= 1 << 26:  # NumPy allocates it: check the limit
        x._device.check_limit(numel(shape) * result.itemsize)
    v = x.dtype.to_numpy_values(cpu_view(x)).astype(compute.numpy, copy=False)
    if red.name == "sum" and len(dims) > 1 and dims[0] == 0:
        # the leading axis first, as whole rows: NumPy crawls when one pass also sums short
        # last rows (a bias gradient's (0, 2): 3x faster in two steps)
        v, dims = quietly(np.add.reduce, v, 0), tuple(d - 1 for d in dims[1:])
    return adopt_values(type(x), x._device, quietly(red.numpy, v, dims), result, shape)


def _empty_error(red, dim, dims):
    if dim is None:
        raise RuntimeError(f"{red.name}(): Expected reduction dim to be specified for "
                           "input.numel() == 0. Specify the reduction dim with the 'dim' "
                           "argument.")
    raise IndexError(f"{red.name}(): Expected reduction dim {dims[0]} to have non-zero size.")


def _reshape(t, shape):
    from .layout import contiguous_strides
    return type(t)._make(t._storage, shape, contiguous_strides(shape), t._offset, t.dtype)


def _reduce_numpy(red, x, dims, compute, values, index):
    v = x.dtype.to_numpy_values(cpu_view(x)).astype(compute.numpy, copy=False)
    if v.size:
        _fill_numpy(red, v, dims, values, index)
        return
    with warnings.catch_warnings():  # "mean of empty slice": NaN, as wanted, and no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        _fill_numpy(red, v, dims, values, index)


def _fill_numpy(red, v, dims, values, index):
    with np.errstate(all="ignore"):
        r = np.asarray(red.numpy(v, dims))
        if red.arg:
            cpu_view(index)[...] = r
            r = _chosen(v, dims, r)
        cpu_view(values)[...] = values.dtype.from_numpy_values(r)


def _chosen(v, dims, index):
    """The values of ``v`` at the arg reduction's ``index`` over ``dims``."""
    if len(dims) == 1:
        return np.take_along_axis(v, np.expand_dims(index, dims[0]), dims[0]).squeeze(dims[0])
    return np.asarray(_np_arg(lambda a, axis: np.take_along_axis(
        a, np.expand_dims(index, -1), -1)[..., 0])(v, dims))


def _extreme(compute, low: bool) -> str:
    if compute.category == 2:
        return "-INFINITY" if low else "INFINITY"
    info = np.iinfo(compute.numpy)
    return f"({info.min + 1} - 1)" if low else str(info.max)


def _reduce_kernel(red, x, kept, dims, compute, values, index):
    device = x._device
    kept_sizes, (kept_strides,) = collapse(tuple(x._shape[d] for d in kept),
                                           [tuple(x._strides[d] for d in kept)])
    red_sizes, (red_strides,) = collapse(tuple(x._shape[d] for d in dims),
                                         [tuple(x._strides[d] for d in dims)])
    m, k = values._numel(), numel(red_sizes)
    big = x._storage.nbytes > INT32_LIMIT or m * k > INT32_LIMIT // 2
    # A CPU device (PoCL) runs a work-group's items in a loop: one item per group reading
    # contiguous runs beats a barrier tree there (PERFORMANCE.md)
    group = 1 if device.cpu_like else min(_LOCAL, device.local_size)
    cpu = _cpu_mode(device, red, m, kept_strides, red_strides)
    lanes = CPU_LANES if cpu == "rows" else CPU_BLOCK if cpu == "block" else 1
    # outputs adjacent in memory, their elements not (a column sum): columns (reduce.mako).
    # Not for arg rows: PoCL 3.0 miscompiles that variant in GPU style, where Oclgrind's GPU
    # simulation agrees with NumPy; arg reductions over a leading dim are off the hot path.
    columns = REDUCE_COLUMNS if group >= REDUCE_COLUMNS and m > 1 and not red.arg and \
        red_strides and tuple(kept_strides[-1:]) == (1,) and red_strides[-1] != 1 else 1
    row = kept_sizes[-1] if kept_sizes else 1
    split = _split(_items(m, row, 1, group, columns, cpu, lanes) // group, k, device, group)
    chunk = -(-k // split) if k else 1
    split = -(-k // chunk) if k else 1
    local = group if columns > 1 else min(group, 1 << max(0, (chunk - 1).bit_length()))
    count = float(k) if compute.category == 2 else k
    geometry = [m, k, split, chunk, count]
    layout = [v for pair in zip(kept_sizes, kept_strides) for v in pair] + \
        [v for pair in zip(red_sizes, red_strides) for v in pair]
    outs = [values._storage.buffer] + ([index._storage.buffer] if red.arg else [])
    if split == 1:
        kernel, local = _kernel(red, device, x.dtype, compute, values.dtype, True,
                                len(kept_sizes), len(red_sizes), local, big, columns, cpu, lanes)
        device.launch(kernel, _items(m, row, split, local, columns, cpu, lanes), outs +
                      [x._storage.buffer, x._offset] + geometry + layout, local=local)
        _describe(compute, x.dtype, len(outs), big, red, device, x.dtype, compute,
                  values.dtype, True, len(kept_sizes), len(red_sizes), local, big, columns,
                  cpu, lanes)
        return
    # first pass: (m, split) partial accumulators (and, for arg rows, their indices)
    partial = empty(type(x), (m, split), compute, device)
    partial_index = empty(type(x), (m, split), dtypes.int64, device) if red.arg else None
    parts = [partial] + ([partial_index] if red.arg else [])
    first, local = _kernel(red, device, x.dtype, compute, compute, False, len(kept_sizes),
                           len(red_sizes), local, big, columns, cpu, lanes)
    device.launch(first, _items(m, row, split, local, columns, cpu, lanes),
                  [p._storage.buffer for p in parts] +
                  [x._storage.buffer, x._offset] + geometry + layout, local=local)
    _describe(compute, x.dtype, len(parts), big, red, device, x.dtype, compute, compute, False,
              len(kept_sizes), len(red_sizes), local, big, columns, cpu, lanes)
    second_local = min(group, 1 << (split - 1).bit_length())
    second, second_local = _kernel(red, device, compute, compute, values.dtype, True, 1, 1,
                                   second_local, big, identity=True)
    device.launch(second, m * second_local, outs + [p._storage.buffer for p in parts] +
                  [0, m, split, 1, split, count, m, split, split, 1], local=second_local)


def _items(m, row, split, local, columns, cpu, lanes) -> int:
    """Work-items of a reduction launch. CPU block: an item per (run of ``lanes`` outputs in a
    kept row of ``row``, chunk). Else a group per (C outputs, chunk), C being ``columns`` or
    the fitted group size where that is smaller (as the template is built)."""
    if cpu == "block":
        return m // row * -(-row // lanes) * split
    return -(-m // min(columns, local)) * split * local


def _cpu_mode(device, red, m, kept_strides, red_strides) -> str:
    """reduce.mako's CPU variant for this layout: "rows" where the innermost reduced dim is
    contiguous, "block" where the innermost kept dim is, "" for the plain one (arg rows too:
    their index bookkeeping is not written in lanes)."""
    if not device.cpu_like or red.arg:
        return ""
    if red_strides[-1:] == (1,):
        return "rows"
    return "block" if m > 1 and kept_strides[-1:] == (1,) else ""


def _split(m, k, device, group) -> int:
    """Chunks per output so that a few outputs of many elements still fill the device."""
    target = 4 * device.compute_units
    if m >= target or k <= 8 * max(group, 256):
        return 1
    return max(1, min(-(-target // m), k // (4 * max(group, 256))))


def _kernel(red, device, src, compute, out, final, kept_ndim, red_ndim, local, big,
            columns=1, cpu="", lanes=1, identity=False, prologue=None):
    """(kernel, work-group size): ``local``, or fewer where the kernel allows fewer."""
    key = ("reduce", red, src, compute, out, final, kept_ndim, red_ndim, big, identity, columns,
           cpu, lanes, prologue)
    idx, cidx = index_types(big)
    return fitted_kernel(device, key, local, lambda group: (
        reduce_source(red, DIALECTS[device.kind], src, compute, out, final, kept_ndim, red_ndim,
                      group, cidx, identity, min(columns, group), cpu, lanes, prologue),
        f"reduce_{red.name}",
        (None,) * (2 if red.arg else 1) + (None,) * (2 if red.arg and identity else 1) +
        (idx, idx, idx, idx, idx, compute.numpy) +
        (idx,) * (2 * (kept_ndim + red_ndim)) +
        (fused.input_argtypes(prologue, idx) if prologue else ())))


class ReduceForm(NamedTuple):
    """A reduction launch reading its input (argument ``input``) element by element, which a
    pointwise chain producing that input may become the prologue of (cltorch.compile's
    fusion): ``rebuild(ep)`` is the same kernel with ``ep`` (an ops/fused.Epilogue of
    contiguous inputs, ``src`` its output dtype) as its prologue, whose inputs' arguments
    follow the launch's, or None where it does not fit."""

    compute: object
    src: object
    input: int
    index_np: object
    rebuild: object


def _describe(compute, src, input_arg, big, *args) -> None:
    """Tell a capture what the reduction just launched is (ReduceForm, its ``rebuild`` being
    _kernel(*args) with the prologue). Nothing is built when no region is captured (every
    reduction passes here); ``args`` hold no array: a capture sees which buffers Python
    still holds."""
    if capture.ACTIVE[0] is not None:
        capture.describe_last(ReduceForm(compute, src, input_arg, index_types(big)[0],
                                         functools.partial(_with_prologue, *args)))


def _with_prologue(red, device, src, compute, out, final, kept_ndim, red_ndim, local, big,
                   columns, cpu, lanes, prologue):
    """_kernel's kernel with ``prologue``, if it takes work-groups of ``local``."""
    return if_fits(_kernel(red, device, src, compute, out, final, kept_ndim, red_ndim, local,
                           big, columns, cpu, lanes, prologue=prologue), local)


def reduce_source(red, dialect, src, compute, out, final, kept_ndim, red_ndim, local, index,
                  identity=False, columns=1, cpu="", lanes=1, prologue=None) -> str:
    """Source of the ``red`` kernel for one dialect and layout (the template tests use it);
    ``prologue``: an ops/fused.Epilogue run at each element read (reduce.mako)."""
    init = {"low": _extreme(compute, True), "high": _extreme(compute, False)}.get(red.init,
                                                                                   red.init)
    return render("reduce.mako", dialect, name=f"reduce_{red.name}", src=src, compute=compute,
                  out=out, final=final, arg=red.arg, init=init, map_expr="v" if identity
                  else red.map, combine=red.combine, post=red.post, kept_ndim=kept_ndim,
                  red_ndim=red_ndim, group_size=local, index=index,
                  arg_in=bool(red.arg and identity), columns=columns, cpu=cpu, lanes=lanes,
                  prologue=prologue)
