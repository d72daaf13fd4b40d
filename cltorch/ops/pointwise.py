"""Run one pointwise op from the table on any device: dtypes, broadcasting, out=, launch.

A repeated call finds a memoised runner (or, with ``out=``, a launch plan cached on the device)
and does one dict lookup, builds the argument list and enqueues: no rendering, no NumPy work on
the GPU path, no allocation beyond the output, no waiting for the device.
"""
from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..backend import capture
from ..backend.capture import ACTIVE as _CAPTURING
from ..codegen import DIALECTS, render
from .array import (Array, Storage, adopt_values, check_dtype_supported,
                    check_no_internal_overlap, cpu_view, empty, quietly, store_values,
                    wrap_stored)
from .launch import INT32_LIMIT, index_types
from .layout import broadcast_shapes, broadcast_strides, collapse, contiguous_strides, numel
from .pointwise_table import TABLE, Op


def default_float():
    return _default_float[0]


_default_float = [dtypes.float32]


def set_default_float(dt) -> None:
    _default_float[0] = dt


@functools.lru_cache(maxsize=4096)
def _signature(op: Op, descs: tuple, default_float) -> tuple:
    """Dtypes and broadcast shape from the operands' (dtype, shape) or scalar types: memoised,
    as a repeated call sees the same ones (this is the per-op host path)."""
    chosen = [descs[i] for i in op.promote] if op.promote else descs
    dims = [d for d, shape in (c for c in chosen if isinstance(c, tuple)) if shape]
    zero = [d for d, shape in (c for c in chosen if isinstance(c, tuple)) if not shape]
    scalars = [c(1) for c in chosen if not isinstance(c, tuple)]
    common = dtypes.result_type(dims, zero, scalars, default_float)
    shape = broadcast_shapes(*(c[1] for c in descs if isinstance(c, tuple)))
    rule = op.rule
    if rule in ("int", "floatonly") and (common.category == 2) != (rule == "floatonly"):
        raise NotImplementedError(f'"{op.name}" not implemented for \'{common.legacy_name}\'')
    if rule == "float" and common.category < 2:
        return common, default_float.compute, default_float, shape
    if rule == "bool":
        return common, common.compute, dtypes.bool_, shape
    return common, common.compute, common, shape


def apply(op: Op | str, operands, out: Array | None = None, out_dtype=None,
          inplace: bool = False) -> Array:
    """``op`` over tensors and Python scalars, broadcast; into ``out`` when given.

    ``inplace`` forbids resizing ``out`` (in-place ops and ``copy_``); ``out_dtype`` is the
    result dtype of ``copy``, the only op whose result dtype is not derived from its inputs.
    A call without ``out`` reuses a runner memoised on its operands' dtypes, shapes, strides
    and device: the per-op host path is one dict lookup, the allocation and the launch.
    """
    op = TABLE[op] if isinstance(op, str) else op
    if out is None:
        key = _runner_key(op, out_dtype, operands)
        run = _RUNNERS.get(key)
        if run is None:
            if len(_RUNNERS) > _MAX_RUNNERS:
                _RUNNERS.clear()
            run = _RUNNERS[key] = _fresh_runner(op, operands, out_dtype)
        if run:
            return run(operands)
    return _apply_into(op, operands, out, out_dtype, inplace)


_RUNNERS = {}
_MAX_RUNNERS = 20000
_BIG_BYTES = INT32_LIMIT  # a storage past 2**31 bytes may need 64-bit indices


def _runner_key(op, out_dtype, operands) -> tuple:
    """What a memoised runner depends on: the op, each tensor's dtype, layout, device and
    whether its storage needs 64-bit indices, each scalar's type. (A loop: a comprehension
    costs 0.1 us more, on a per-op host path of a few micro-seconds.)"""
    key = [op, out_dtype, _default_float[0]]
    for x in operands:
        key.append((x.dtype, x._shape, x._strides, x._storage.device,
                    x._storage.nbytes > _BIG_BYTES) if isinstance(x, Array) else type(x))
    return tuple(key)


def _resolve(op, operands, out, out_dtype, inplace):
    """Device, operands (foreign 0-dim tensors made scalars), dtypes, shape, variant key."""
    arrays = [x for x in operands if isinstance(x, Array)]
    if not arrays and out is None:
        raise TypeError(f"{op.name}(): expected at least one Tensor argument, got "
                        f"{', '.join(type(x).__name__ for x in operands)}")
    device = _common_device(arrays, out)
    operands = [x if isinstance(x, Array) and x._device is device else
                _as_scalar(x) for x in operands]
    common, compute, result, shape = _signature(
        op, tuple((x.dtype, x._shape) if isinstance(x, Array) else type(x) for x in operands),
        _default_float[0])
    if op.rule == "copy":
        result = out.dtype if out is not None else out_dtype
        compute = dtypes.promote_types(common, result).compute
    if inplace and shape != out._shape:
        shape = broadcast_shapes(shape, out._shape)
    check_dtype_supported(device, compute)
    key = "bool" if common is dtypes.bool_ else ("float" if compute.category == 2 else "int")
    return device, operands, compute, result, shape, key


def _fresh_runner(op, operands, out_dtype):
    """A function running ``op`` into a new contiguous result for operands laid out like these;
    False where the general path is needed (empty result, a foreign 0-dim tensor)."""
    device, resolved, compute, result, shape, key = _resolve(op, operands, None, out_dtype,
                                                            False)
    if numel(shape) == 0 or any(a is not b for a, b in zip(resolved, operands)):
        return False
    check_dtype_supported(device, result)
    cls = type(next(x for x in operands if isinstance(x, Array)))
    strides = contiguous_strides(shape)
    if device.kind == "cpu":
        fn, ct = op.variant("numpy", key), compute.numpy
        readers = [_numpy_reader(x, ct) for x in operands]
        # NumPy allocates this result itself: large ones are checked against the memory limit
        large = numel(shape) * result.itemsize >= 1 << 26

        stored_type = result.storage_np if result is not dtypes.bfloat16 else None

        def run_numpy(operands):
            if large:
                device.check_limit(numel(shape) * result.itemsize)
            values = quietly(fn, *[read(x) for read, x in zip(readers, operands)])
            if type(values) is np.ndarray and values.dtype is stored_type and \
                    values.shape == shape and values.base is None and values.flags.c_contiguous:
                return wrap_stored(cls, device, values, result, shape, strides)  # the usual
            return adopt_values(cls, device, values, result, shape)
        return run_numpy
    n = numel(shape)
    kernel, _, in_strides, tail, form = _make_plan(op, key, compute, operands, result, shape,
                                                   strides, device, _needs_long(operands, n))
    nbytes = n * result.itemsize

    def run_kernel(operands):
        buffer = device.allocate(nbytes)
        device.launch(kernel, n, _kernel_args([buffer, 0], operands, in_strides, tail))
        if _CAPTURING[0] is not None:
            capture.describe_last(form)
        return cls._make(Storage(device, buffer, nbytes), shape, strides, 0, result)
    return run_kernel


def full(cls, shape: tuple, dtype, device, value) -> Array:
    """A new contiguous array of ``shape`` holding the Python number ``value`` (already checked
    to fit ``dtype``): ``numpy.full`` on the cpu, a fill kernel elsewhere."""
    if device.kind != "cpu" or dtype is dtypes.bfloat16 or not numel(shape):
        return apply("copy", [value], out=empty(cls, shape, dtype, device), inplace=True)
    check_dtype_supported(device, dtype)
    nbytes = numel(shape) * dtype.itemsize
    if nbytes >= 1 << 26:  # NumPy allocates it: a large one is checked against the limit
        device.check_limit(nbytes)
    return adopt_values(cls, device, np.full(shape, value, dtype.storage_np), dtype, shape)


def _apply_into(op, operands, out, out_dtype, inplace):
    """The general path: ``out=``, in place, empty results and foreign 0-dim tensors."""
    arrays = [x for x in operands if isinstance(x, Array)]
    device, operands, compute, result, shape, key = _resolve(op, operands, out, out_dtype,
                                                            inplace)
    given = out is not None
    out = _prepare_out(op, out, shape, result, arrays, device, inplace)
    if given:
        if arrays:  # a constant fill (fill_, zero_) may write a location twice: same value
            check_no_internal_overlap(out)
        out._storage.version += 1
    if numel(shape) == 0:
        return out
    if device.kind == "cpu":
        values = quietly(op.variant("numpy", key), *_numpy_values(operands, compute.numpy))
        store_values(out, np.asarray(values))  # a conversion is quiet itself (dtypes)
    else:
        _run_kernel(op, key, compute, [_no_overlap(x, out) for x in operands], out)
    return out


def _numpy_values(operands, ct):
    """Operands as NumPy values of the compute type ``ct`` (scalars as NumPy scalars)."""
    return [_numpy_reader(x, ct)(x) for x in operands]


def _numpy_reader(x, ct):
    """How an operand laid out like ``x`` is read: a function giving its NumPy values in the
    compute type ``ct``. A memoised cpu runner decides it once per operand."""
    if not isinstance(x, Array):
        return ct.type
    if x.dtype is dtypes.bfloat16:
        return lambda a: a.dtype.to_numpy_values(cpu_view(a)).astype(ct)
    if x.dtype.storage_np == ct:
        return cpu_view
    return lambda a: cpu_view(a).astype(ct, copy=False)


def _common_device(arrays, out):
    devices = {x._device for x in arrays if x._shape or x._device.kind != "cpu"}
    if out is not None:
        devices.add(out._device)
    if len(devices) > 1:
        names = sorted(d.name for d in devices)
        raise RuntimeError("Expected all tensors to be on the same device, but found at least "
                           f"two devices, {names[0]} and {names[1]}!")
    return devices.pop() if devices else arrays[0]._device


def _as_scalar(x):
    """A 0-dim tensor on another device (the cpu) takes part as a Python scalar."""
    if not isinstance(x, Array):
        return x
    return x.dtype.to_numpy_values(read_stored(x)).item()


def _prepare_out(op, out, shape, result, arrays, device, inplace):
    if out is None:
        return empty(type(arrays[0]), shape, result, device)
    if op.rule != "copy" and not dtypes.can_cast(result, out.dtype):
        raise RuntimeError(f"result type {result.legacy_name} can't be cast to the desired "
                           f"output type {out.dtype.legacy_name}")
    if out._shape != shape:
        if inplace or any(x._storage is out._storage for x in arrays):
            raise RuntimeError(f"output with shape {list(out._shape)} doesn't match the "
                               f"broadcast shape {list(shape)}")
        if out._numel():
            warnings.warn(f"An output with one or more elements was resized since it had shape "
                          f"{list(out._shape)}, which does not match the required output shape "
                          f"{list(shape)}.", UserWarning, stacklevel=3)
        fresh = empty(type(out), shape, out.dtype, device)
        out._storage, out._shape, out._strides, out._offset = (
            fresh._storage, fresh._shape, fresh._strides, 0)
    return out


def _no_overlap(x, out):
    """An input that overlaps the output in another layout is read from a copy."""
    if isinstance(x, Array) and x._storage is out._storage and x is not out and (
            x._offset != out._offset or x._shape != out._shape or x._strides != out._strides):
        return apply("copy", [x], out_dtype=x.dtype)
    return x


def _needs_long(arrays, n) -> bool:
    """64-bit indices when the grid or any storage passes what 32-bit ones can address."""
    return n > INT32_LIMIT // 2 or any(
        x._storage.nbytes > _BIG_BYTES for x in arrays if isinstance(x, Array))


def _kernel_args(args, operands, in_strides, tail):
    """``args`` followed by each operand's (buffer, offset, strides...) or scalar value, then
    ``tail``."""
    for x, strides in zip(operands, in_strides):
        if strides is None:
            args.append(x)
        elif strides:
            args += (x._storage.buffer, x._offset, *strides)
        else:  # contiguous
            args.append(x._storage.buffer)
            args.append(x._offset)
    args += tail
    return args


def _run_kernel(op, key, compute, operands, out):
    device, n = out._device, out._numel()
    big = _needs_long(operands + [out], n)
    plan_key = (op, key, compute, out.dtype, out._shape, out._strides, big,
                tuple((x.dtype, x._shape, x._strides) if isinstance(x, Array) else None
                      for x in operands))
    plan = device.plans.get(plan_key)
    if plan is None:
        plan = device.plans[plan_key] = _make_plan(op, key, compute, operands, out.dtype,
                                                   out._shape, out._strides, device, big)
    kernel, out_strides, in_strides, tail, form = plan
    args = _kernel_args([out._storage.buffer, out._offset, *out_strides], operands, in_strides,
                        tail)
    device.launch(kernel, n, args)
    if _CAPTURING[0] is not None:
        capture.describe_last(form)


def kernel_source(op, key, dialect, compute, out, operands, out_kind, ndim, index) -> tuple:
    """(kernel name, source) of ``op`` for one dialect and one operand layout."""
    name = f"pointwise_{op.name}"
    return name, render("pointwise.mako", dialect, name=name, expr=op.variant("expr", key),
                        compute=compute, out=out, operands=operands, out_kind=out_kind,
                        ndim=ndim, index=index)


def _make_plan(op, key, compute, operands, out_dtype, shape, out_strides, device, big):
    """Collapse dims, pick contiguous/strided per operand, render and compile the kernel.

    Returns (kernel, out strides, per-operand strides (None for a scalar), trailing args,
    the launch's Form: what cltorch.compile's fusion reads its arguments by)."""
    arrays = [x for x in operands if isinstance(x, Array)]
    sizes, strides = collapse(shape, [out_strides] + [
        broadcast_strides(x._shape, x._strides, shape) for x in arrays])
    dense = contiguous_strides(sizes)
    kinds = ["c" if st == dense else "s" for st in strides]
    ndim = 0 if all(k == "c" for k in kinds) else len(sizes)
    idx_np, cidx = index_types(big)
    out_st = strides[0] if ndim and kinds[0] == "s" else ()
    layout = iter(zip(kinds[1:], strides[1:]))
    desc, in_strides, argtypes = [], [], [None, idx_np] + [idx_np] * len(out_st)
    for x in operands:
        if isinstance(x, Array):
            kind, st = next(layout)
            desc.append((kind, x.dtype))
            in_strides.append(st if kind == "s" and ndim else ())
            argtypes += [None, idx_np] + [idx_np] * len(in_strides[-1])
        else:
            desc.append(("v", compute))
            in_strides.append(None)
            argtypes.append(compute.numpy)
    argtypes += [idx_np] * (1 + ndim)
    out_kind = kinds[0] if ndim else "c"
    name, source = kernel_source(op, key, DIALECTS[device.kind], compute, out_dtype, tuple(desc),
                                 out_kind, ndim, cidx)
    kernel = device.kernel(source, name, tuple(argtypes))
    form = Form(op.variant("expr", key), compute, out_dtype, tuple(desc), out_kind, ndim, cidx,
                idx_np)
    return kernel, out_st, in_strides, [numel(shape), *(sizes if ndim else ())], form


class Form(NamedTuple):
    """A pointwise launch's kernel, as data: its argument list is the output's (buffer, offset,
    strides when ``out_kind`` is "s"), each operand's (buffer, offset, strides when "s") or
    scalar ("v"), the item count and ``ndim`` sizes (pointwise.mako's layout)."""

    expr: str
    compute: object
    out: object
    operands: tuple   # (kind, dtype) per operand
    out_kind: str
    ndim: int
    index: str        # C type of indices
    index_np: object  # its NumPy type


def read_stored(x: Array) -> np.ndarray:
    """A host copy of the stored bits of ``x`` (a dense copy is made on the device first)."""
    if x._device.kind == "cpu":
        return cpu_view(x).copy()
    if not x._is_contiguous():
        x = apply("copy", [x], out_dtype=x.dtype)
    out = np.empty(x._shape, dtype=x.dtype.storage_np)
    return x._device.download(x._storage.buffer, x._offset * x.dtype.itemsize, out)
