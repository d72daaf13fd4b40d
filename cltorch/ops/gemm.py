"""Batched matrix products: C[b] = A[b] @ B[b] through the tiled ``gemm.mako`` template (strided
operands, so transposed views need no copy), or ``numpy.matmul`` on the cpu."""
from __future__ import annotations

import os
import time
from functools import partial
from typing import NamedTuple

import numpy as np

from .. import config, dtypes
from ..backend import capture
from . import fused, tuning
from ..codegen import DIALECTS, render
from ..codegen.vectors import VECTOR_BYTES
from .launch import INT32_LIMIT, cached_kernel, fitted_kernel, if_fits, index_types
from .array import (Array, adopt_values, check_dtype_supported, cpu_view, empty,
                    from_numpy_values, quietly, relayout)
from .layout import collapse

BLOCK = 8  # must match gemm.mako's blocked kernel
GEMV_GROUP = 256  # the most work-items of a matrix-vector kernel's group (GPUs)
GEMV_COLUMNS = 16  # outputs per work-group of the column-tile matrix-vector kernel (GPUs)
GEMV_SPLIT_K = 128  # the shortest k that the column-tile kernel splits between items
SPLIT_K_CHUNK = 128  # the least k a slice of a split-K tiled product sums (gemm.mako)
# The least multiply-adds (batch * m * n * k) for which a CPU device packs its operands: below,
# the blocked kernel's one launch beats the packed kernel's three (PoCL, one thread: 32 x 120
# x 84 took 25 us blocked, 41 packed; 128^3 147 us blocked, 116 packed)
PACKED_MIN_WORK = 1 << 20


def bmm(a: Array, b: Array, bias: Array | None = None) -> Array:
    """(batch, m, k) @ (batch, k, n) -> (batch, m, n); batch strides may be 0 (broadcast).
    ``bias`` (of the result's dtype, laid out to broadcast over it) is added into the
    product: a layer's bias, at no extra result."""
    if a._device is not b._device:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least "
                           f"two devices, {a._device.name} and {b._device.name}!")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_name(a.dtype)} != {_name(b.dtype)}")
    batch, m, k = a._shape
    n = b._shape[2]
    if b._shape[:2] != (batch, k):
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and "
                           f"{b._shape[1]}x{n})")
    compute = a.dtype.compute
    check_dtype_supported(a._device, compute)
    if a._device.kind == "cpu" and batch * m * n and k:
        return _bmm_numpy(a, b, bias, compute, (batch, m, n))
    out = empty(type(a), (batch, m, n), a.dtype, a._device)
    if out._numel() == 0:
        return out
    from .pointwise import apply
    if k == 0:
        apply("copy", [0], out=out, inplace=True)
    else:
        _launch(a, b, out, batch, m, n, k, compute)
    if bias is not None:
        apply("add", [out, bias, 1], out=out, inplace=True)
    return out


def mm(a: Array, b: Array, bias: Array | None = None) -> Array:
    """(n, k) @ (k, m) (+ ``bias`` laid out over (1, n, m)) as one GEMM on the operands as
    they lie: no view, no copy."""
    out = bmm(relayout(a, (1,) + a._shape, (0,) + a._strides),
              relayout(b, (1,) + b._shape, (0,) + b._strides), bias)
    return relayout(out, out._shape[1:], out._strides[1:])


def _bmm_numpy(a, b, bias, compute, shape):
    """``numpy.matmul`` in the compute type (the bias added in place); its result becomes
    the output's storage."""
    device, nbytes = a._device, shape[0] * shape[1] * shape[2] * a.dtype.itemsize
    if nbytes >= 1 << 26:  # NumPy allocates the result: a large one is checked first
        device.check_limit(nbytes)
    va, vb = (x.dtype.to_numpy_values(cpu_view(x)).astype(compute.numpy, copy=False)
              for x in (a, b))
    product = quietly(np.matmul, va, vb)
    if bias is not None:
        vc = bias.dtype.to_numpy_values(cpu_view(bias)).astype(compute.numpy, copy=False)
        quietly(np.add, product, vc, product)
    return adopt_values(type(a), device, product, a.dtype, shape)


def linear_grads(g: Array, rows: Array, weight: Array, wanted) -> tuple:
    """The gradients of ``rows @ weight.T + bias`` for output gradient ``g`` (n, m), those
    ``wanted`` (rows, weight, bias): g W (n, k), g^T rows (m, k, the weight's layout) and g's
    column sums. On the cpu one NumPy call each (the layer's whole backward, no other op)."""
    if g._device.kind != "cpu":
        from .reduce import reduce
        return (mm(g, weight) if wanted[0] else None,
                mm(relayout(g, g._shape[::-1], g._strides[::-1]), rows) if wanted[1] else None,
                reduce("sum", g, 0) if wanted[2] else None)
    compute = g.dtype.compute.numpy
    vg, vr, vw = (x.dtype.to_numpy_values(cpu_view(x)).astype(compute, copy=False)
                  for x in (g, rows, weight))
    cls, device = type(g), g._device
    return (adopt_values(cls, device, quietly(np.matmul, vg, vw), rows.dtype, rows._shape)
            if wanted[0] else None,
            adopt_values(cls, device, quietly(np.matmul, vg.T, vr), weight.dtype, weight._shape)
            if wanted[1] else None,
            adopt_values(cls, device, quietly(np.add.reduce, vg, 0), g.dtype, g._shape[1:])
            if wanted[2] else None)


def _name(dt):
    return {"float32": "float", "float64": "double", "int64": "long int"}.get(dt.name, dt.name)


def _launch(a, b, out, batch, m, n, k, compute):
    device = a._device
    big = max(a._storage.nbytes, b._storage.nbytes, out._storage.nbytes) > INT32_LIMIT
    if m == 1 or n == 1:  # a 64 x 64 tile would waste 63/64 of its work: matrix-vector
        _launch_gemv(a, b, out, m, n, k, compute, big)
        return
    if device.cpu_like and compute.category == 2 and batch * m * n * k >= PACKED_MIN_WORK:
        _launch_packed(a, b, out, batch, m, n, k, compute)
        return
    operands = [a._storage.buffer, a._offset, *a._strides, b._storage.buffer, b._offset,
                *b._strides, batch, m, n, k]
    tile = _tile(device, compute, batch, m, n)
    tiles_m, tiles_n = (-(-m // tile.mwg), -(-n // tile.nwg)) if tile else (0, 0)
    splits, chunk = _k_splits(device, compute, batch * tiles_m * tiles_n, k, tile)
    # split-K: the slices' partial products in the compute type, then their sum
    big = big or splits * batch * m * n * compute.itemsize > INT32_LIMIT
    kernel = tile and _tiled_kernel(device, a.dtype, b.dtype, compute,
                                    compute if splits > 1 else out.dtype, big, tile)
    if kernel:
        target = empty(type(out), (splits, batch, m, n), compute, device) if splits > 1 else out
        device.launch(kernel, splits * batch * tiles_m * tiles_n * tile.group,
                      [target._storage.buffer] + operands + [tiles_m, tiles_n, splits, chunk],
                      local=tile.group)
        if splits == 1:
            describe_product(out, compute, big, False, _tiled_kernel, device, a.dtype, b.dtype,
                             compute, out.dtype, big, tile, "")
        if splits > 1:
            from .pointwise import apply
            from .reduce import reduce
            apply("copy", [reduce("sum", target, 0)], out=out, inplace=True)
        return
    # 64-bit indices let PoCL vectorise the blocked loads (5x faster than int ones, measured)
    kernel, group = _kernel(device, a.dtype, b.dtype, compute, out.dtype, True, "blocked")
    device.launch(kernel, batch * -(-m // BLOCK) * -(-n // BLOCK),
                  [out._storage.buffer] + operands + [0, 0, 1, k], local=group)
    describe_product(out, compute, True, True, _blocked_kernel, group, device, a.dtype, b.dtype,
                     compute, out.dtype)


def _blocked_kernel(group, device, src_a, src_b, compute, out, epilogue):
    """The blocked kernel with ``epilogue``, if it takes work-groups of ``group``."""
    return if_fits(_kernel(device, src_a, src_b, compute, out, True, "blocked",
                           epilogue=epilogue), group)


class GemmForm(NamedTuple):
    """A GEMM launch whose result C (its first argument: contiguous (batch, m, n), stored in
    the compute type) a pointwise chain may take over as its epilogue (cltorch.compile's
    fusion): ``rebuild(ep)`` is the same kernel with ``ep`` (an ops/fused.Epilogue) as its
    epilogue, whose arguments follow the launch's, or None where it does not fit."""

    compute: object
    dims: tuple       # C's (batch, m, n)
    index: str        # C type of the kernel's indices
    index_np: object  # its NumPy type
    rebuild: object
    keeps_c: bool     # the epilogue reads C back from its buffer (the blocked variant's)


def describe_product(out: Array, compute, big: bool, keeps_c: bool, kernel, *args) -> None:
    """Tell a capture what the launch just made (GemmForm, its ``rebuild`` being ``kernel``
    given ``args`` and then the epilogue), where its C is in the compute type: a GEMM's
    product, or another result made element by element (max pooling's gradient, C's dims
    (1, rows, columns)). Nothing is built when no region is captured (every product passes
    here); ``args`` hold no array: a capture sees which buffers Python still holds."""
    if capture.ACTIVE[0] is not None and out.dtype is compute:
        idx, cidx = index_types(big)
        dims = (1,) * (3 - len(out._shape)) + out._shape
        capture.describe_last(GemmForm(compute, dims, cidx, idx, partial(kernel, *args),
                                       keeps_c))


def _k_splits(device, compute, tiles, k, tile) -> tuple:
    """(slices, k per slice) of a tiled float product: one slice (all of k) where its tiles
    fill the device's compute units, else as many as fill them, each at least SPLIT_K_CHUNK
    of k (a multiple of the tile's k step). A 64 x 1024 x 1024 product made 16 tiles for an
    H200's 132 units and ran 9.6x slower than cuBLAS: 8 slices make 128 groups."""
    if tile is None or compute.category != 2 or tiles >= device.compute_units:
        return 1, k
    splits = min(-(-device.compute_units // tiles), k // SPLIT_K_CHUNK)
    if splits < 2:
        return 1, k
    chunk = -(-k // splits)
    chunk = -(-chunk // tile.kwg) * tile.kwg
    return -(-k // chunk), chunk


def _tiled_kernel(device, src_a, src_b, compute, out, big, tile, windows="", epilogue=None):
    """The tiled kernel for ``tile``, or None where the built kernel does not allow its
    work-groups (CL_KERNEL_WORK_GROUP_SIZE: too many registers)."""
    return if_fits(_kernel(device, src_a, src_b, compute, out, big, "tiled", tile, windows,
                           epilogue), tile.group)


def windows_product(out: Array, a: Array, x: Array, win, rows_are: str, taps,
                    grid_width=None) -> bool:
    """out[i] = a[i] @ B_i (out contiguous (N, m, n), ``a`` strided (N, m, k)) for each image
    i of ``x`` (N, C, H, W), B_i read from the image's windows ``win`` by a GPU's tiled kernel
    (an implicit-GEMM convolution: no column matrix). ``rows_are`` "positions": B_i[tap,
    position], the forward; "taps": B_i[position, tap], the weight gradient; "gradient": x
    is the output gradient and B_i[tap, input position] (the input gradient; ``grid_width``
    the input's width). ``taps(dtype)`` gives the tap table (im2col.tap_table) in the
    kernel's index type. Returns False, having launched nothing, where the tiled kernel does
    not fit the device."""
    device, compute = x._device, x.dtype.compute
    batch, m, n = out._shape
    k = a._shape[2]
    big = max(a._storage.nbytes, x._storage.nbytes, out._storage.nbytes) > INT32_LIMIT
    tile = _tile(device, compute, batch, m, n)
    kernel = tile and _tiled_kernel(device, a.dtype, x.dtype, compute, out.dtype, big, tile,
                                    rows_are)
    if not kernel:
        return False
    tiles_m, tiles_n = -(-m // tile.mwg), -(-n // tile.nwg)
    # B's "strides": the image's, and a column step of 1 (positions) or 0 (taps) so that the
    # tile loads walk along the output positions, adjacent in the image
    steps = [x._strides[0], 0, 0 if rows_are == "taps" else 1]
    table = taps(np.int64 if big else np.int32)
    (sy, sx), (py, px) = win.stride, win.padding
    device.launch(kernel, batch * tiles_m * tiles_n * tile.group,
                  [out._storage.buffer, a._storage.buffer, a._offset, *a._strides,
                   x._storage.buffer, x._offset, *steps, batch, m, n, k, tiles_m, tiles_n,
                   1, k, table._storage.buffer, *x._strides[2:], *x._shape[2:], sy, sx, py, px,
                   grid_width or win.out[1]], local=tile.group)
    describe_product(out, compute, big, False, _tiled_kernel, device, a.dtype, x.dtype, compute,
                     out.dtype, big, tile, rows_are)
    return True


def _launch_packed(a, b, out, batch, m, n, k, compute):
    """A CPU device's float GEMM: A packed in panels of packed_rows rows and B in panels of two
    vectors' columns (an operand broadcast over the batch is packed once), then the packed
    micro-kernel over them."""
    width = VECTOR_BYTES // compute.itemsize
    b_rows = relayout(b, (batch, n, k), (b._strides[0], b._strides[2], b._strides[1]))  # B^T
    packed_product(out, pack_operand(a, packed_rows(a._device, compute, m, n), compute),
                   pack_operand(b_rows, 2 * width, compute), batch, m, n, k)


def packed_rows(device, compute, m, n) -> int:
    """Rows of an A panel for the packed CPU kernel (its ``mr``): tuned, per shape class."""
    return tuning.gemm_params(device, compute, m, n)["mr"]


def packed_width(compute) -> int:
    """Columns of a B panel for the packed CPU kernel: two vectors of the compute type."""
    return 2 * (VECTOR_BYTES // compute.itemsize)


def pack_operand(x: Array, panel, compute, k_split=None) -> tuple:
    """x (batch, rows, k), strided, as gemm.mako's packed panels of ``panel`` rows, k-major,
    in the ``compute`` type: (panels, one batch's size in elements, 0 when x is broadcast
    over the batch, so packed once; ``panel``). ``k_split`` (k_inner, outer stride): k spans
    two dims, kk = ko * k_inner + ki at ko * outer stride + ki * x's k stride (a batch
    folded in k)."""
    device, (batch, rows, k), (sb, row_stride, sk) = x._device, x._shape, x._strides
    kin, sko = k_split or (k, 0)
    copies, size = (1 if x._strides[0] == 0 else batch), -(-rows // panel) * panel * k
    packed = empty(type(x), (copies * size,), compute, device)
    big = max(x._storage.nbytes, packed._storage.nbytes) > INT32_LIMIT
    kernel = _packed_kernel(device, "pack", x.dtype, compute, big, panel=panel)
    device.launch(kernel, copies * size // panel,
                  [packed._storage.buffer, x._storage.buffer, x._offset, sb, row_stride, sk,
                   kin, sko, copies, rows, k], local=1)
    return packed, (size if copies > 1 else 0), panel


def packed_product(out: Array, a_panels, b_panels, batch, m, n, k) -> None:
    """out (batch, m, n), contiguous, = A @ B from packed panels (pack_operand's results, or
    im2col.pack_windows'): the CPU micro-kernel, A's panel rows x packed_width outputs an
    item."""
    (a, a_size, mr), (b, b_size, _) = a_panels, b_panels
    compute, device = a.dtype, a._device
    width = VECTOR_BYTES // compute.itemsize
    big = max(out._storage.nbytes, a._storage.nbytes, b._storage.nbytes) > INT32_LIMIT
    kernel = _packed_kernel(device, "packed", compute, out.dtype, big, width=width, mr=mr)
    device.launch(kernel, batch * -(-m // mr) * -(-n // (2 * width)),
                  [out._storage.buffer, a._storage.buffer, a_size, b._storage.buffer, b_size,
                   batch, m, n, k], local=1)
    describe_product(out, compute, big, False, _packed_kernel, device, "packed", compute, out.dtype,
                     big, width, 0, mr)


def _packed_kernel(device, variant, src, out, big, width=1, panel=0, mr=0, epilogue=None):
    """gemm.mako's pack kernel (``src`` into panels of ``out``) or packed kernel (``src``
    panels of ``mr`` rows into C of ``out``)."""
    idx, cidx = index_types(big)
    compute = out if variant == "pack" else src
    key = ("gemm", variant, src, out, big, width, panel, mr, epilogue)
    return cached_kernel(device, key, lambda: (
        gemm_source(DIALECTS[device.kind], src, src, compute, out, cidx, variant, width=width,
                    panel=panel, mr=mr or 6, epilogue=epilogue), "gemm",
        (None, None) + (idx,) * 9 if variant == "pack" else
        (None, None, idx, None, idx, idx, idx, idx, idx) + _epilogue_types(epilogue, idx)))


def _epilogue_types(epilogue, idx) -> tuple:
    return fused.argtypes(epilogue, idx) if epilogue else ()


def _tile(device, compute, batch, m, n):
    """The tiled GEMM's parameters (tuning.Tile) for a GPU's product, or None (a CPU device, or
    no tile fits): as tuned for the device, dtype and shape class (ops/tuning.py; NVIDIA's
    default from an H200, where the 128 x 128 tile took 4096^3 from 7.0 to 5.5 ms), under
    CLTORCH_GEMM_TILE's forced parameters. A tile larger than 64 x 64 only where its groups
    still make one per compute unit (1024^3 ran 1.7x slower with 64 tiles of 128 for 132
    units): else the 64 x 64 tile, and split-K. Memoised per shape class: a dict get."""
    if device.cpu_like:
        return None
    key = ("tuning", "tile", compute, tuning.shape_class(m, n),
           os.environ.get("CLTORCH_GEMM_TILE", ""), tuple(tuning.FORCED.items()))
    found = device.plans.get(key)
    if found is None:
        found = device.plans[key] = _fitting_tiles(device, compute, m, n)
    tile, medium = found
    if medium and batch * -(-m // tile.mwg) * -(-n // tile.nwg) < device.compute_units:
        return medium
    return tile


def _fitting_tiles(device, compute, m, n) -> tuple:
    """(the tile, the 64 x 64 tile where that is smaller and not forced, else None), each
    replaced by tuning.SMALL where it exceeds the device's work-group or local memory, or
    None where SMALL does too."""
    forced = config.gemm_tile()
    tile = tuning.Tile(**tuning.gemm_params(device, compute, m, n))._replace(**forced)
    if tile.problem():
        raise ValueError(f"CLTORCH_GEMM_TILE: {tile.problem()}; got {tile}")
    medium = tuning.MEDIUM if tile.mwg * tile.nwg > tuning.MEDIUM.mwg * tuning.MEDIUM.nwg and \
        not (forced or tuning.FORCED) else None
    return _fit(device, compute, tile), medium and _fit(device, compute, medium)


def _fit(device, compute, tile):
    for fit in (tile, tuning.SMALL):
        if fit.group <= device.local_size and \
                fit.local_bytes(compute.itemsize) <= device.local_memory:
            return fit
    return None


def _launch_gemv(a, b, out, m, n, k, compute, big):
    """C = A @ x (n == 1) or C = (B^T @ a^T)^T (m == 1): rows of a strided matrix times a
    strided vector."""
    device = a._device
    if n == 1:
        mat, vec, rows = (a, *a._strides), (b, b._strides[0], b._strides[1]), m
    else:
        mat = (b, b._strides[0], b._strides[2], b._strides[1])
        vec, rows = (a, a._strides[0], a._strides[2]), n
    (matrix, sb, sr, sk), (vector, vsb, vsk) = mat, vec
    group, columns = _gemv_shape(device, k, sr, sk)
    # a CPU reading a matrix down its columns: one item per cache line of outputs
    width = 16 if device.cpu_like and sr == 1 else 1
    key = ("gemv", matrix.dtype, vector.dtype, compute, out.dtype, width, columns, big)
    idx, cidx = index_types(big)
    kernel, group = fitted_kernel(device, key, group, lambda fit: (
        gemv_source(DIALECTS[device.kind], matrix.dtype, vector.dtype, compute, out.dtype,
                    fit, cidx, width, min(columns, fit)), "gemv",
        (None, None, idx, idx, idx, idx, None) + (idx,) * 6))
    batch, columns = out._shape[0], min(columns, group)
    items = (batch * -(-rows // columns) * group if group > 1 else
             batch * -(-rows // width))
    device.launch(kernel, items,
                  [out._storage.buffer, matrix._storage.buffer, matrix._offset, sb, sr, sk,
                   vector._storage.buffer, vector._offset, vsb, vsk, batch, rows, k],
                  local=group if group > 1 else None)  # no barriers: any group size will do


def _gemv_shape(device, k, sr, sk):
    """(work-group size, outputs per group) of a matrix-vector product. A CPU: one item per
    output (or cache line of outputs). A GPU reading rows along k (sk == 1): a group per
    output. A GPU whose outputs are adjacent (sr == 1, the matrix read down its columns) and
    whose k is long: a group per GEMV_COLUMNS outputs with k split between the group's items,
    since one item per output leaves most of a GPU idle (4096 items on an H200: 150 GB/s,
    measured); for a short k (a depthwise convolution's 9) one item per output is faster (its
    k slices would idle: twice as slow, measured)."""
    if device.cpu_like:
        return 1, 1
    if sk == 1:
        return min(GEMV_GROUP, device.local_size, 1 << max(0, (k - 1).bit_length())), 1
    if sr == 1 and k >= GEMV_SPLIT_K:
        return min(GEMV_GROUP, device.local_size), GEMV_COLUMNS
    return 1, 1


def gemv_source(dialect, src_a, src_x, compute, out, group_size, index, width=1,
                columns=1) -> str:
    """Source of the matrix-vector kernel for one dialect (the template tests use it)."""
    return render("gemv.mako", dialect, name="gemv", src_a=src_a, src_x=src_x, compute=compute,
                  out=out, group_size=group_size, index=index, width=width, columns=columns)


def _kernel(device, src_a, src_b, compute, out, big, variant, tile=tuning.MEDIUM, windows="",
            epilogue=None):
    """(kernel, work-group size): the tile's for the tiled variant (fewer if the kernel allows
    fewer: then it is not usable), up to 64 for the blocked one (no barriers: any size)."""
    key = ("gemm", src_a, src_b, compute, out, big, variant, tile, windows, epilogue)
    idx, cidx = index_types(big)
    group = tile.group if variant == "tiled" else min(64, device.local_size)
    return fitted_kernel(device, key, group, lambda _: (
        gemm_source(DIALECTS[device.kind], src_a, src_b, compute, out, cidx, variant, tile,
                    windows=windows, epilogue=epilogue),
        "gemm", (None, None, idx, idx, idx, idx, None, idx, idx, idx, idx) + (idx,) * 8
        + (((None,) + (idx,) * 9) if windows else ()) + _epilogue_types(epilogue, idx)))


def gemm_source(dialect, src_a, src_b, compute, out, index, variant="tiled",
                tile=tuning.MEDIUM, width=1, panel=0, mr=6, windows="", epilogue=None) -> str:
    """Source of a GEMM kernel for one dialect and dtype set (the template tests use it):
    ``variant`` tiled (parameters ``tile``, a tuning.Tile), blocked, pack (``panel`` rows a
    panel) or packed (``mr`` rows by two
    vectors of ``width``); ``windows`` (tiled): B read from an image's windows, "positions",
    "taps" or "gradient" (windows_product); ``epilogue`` (an ops/fused.Epilogue, not for
    pack): the pointwise chain stored in C's place."""
    return render("gemm.mako", dialect, name="gemm", src_a=src_a, src_b=src_b, compute=compute,
                  out=out, index=index, variant=variant, tile=tile, width=width, panel=panel,
                  mr=mr, windows=windows, epilogue=epilogue)


def tune(device, dtype_names=("float32",), quick=False, progress=True, budget=None) -> dict:
    """``cltorch tune``: for each dtype and shape class, a coordinate search of the device's
    GEMM parameters (tuning.SPACE) from the vendor default: each parameter's values in turn,
    the others held at the fastest so far (the median of a few products of a representative
    shape), until a pass over them all changes nothing (at most three passes) or the class's
    share of ``budget`` seconds is spent. Stores the fastest in the tuning database under the
    device's key and returns {"dtype class": (params, {candidate: seconds})}, a candidate
    being a tuple of (name, value) pairs."""
    from tqdm import tqdm
    jobs = [(getattr(dtypes, d), cls) for d in dtype_names for cls in tuning.CLASSES]
    results, bar = {}, tqdm(disable=not progress, desc=f"cltorch tune {device.name}",
                            unit="kernel")
    for dtype, cls in jobs:
        deadline = time.perf_counter() + budget / len(jobs) if budget else None
        best, times = _search(device, dtype, cls, quick, deadline, bar)
        results[f"{dtype.name} {cls}"] = (best, times)
    bar.close()
    tuning.store(device, {key: params for key, (params, _) in results.items()})
    return results


def _search(device, dtype, cls, quick, deadline, bar) -> tuple:
    """tune's coordinate search for one dtype and shape class: (the fastest parameters,
    {candidate: seconds})."""
    best = dict(tuning.DEFAULTS[tuning.vendor_class(device)][cls])
    times = {}
    for _ in range(3):
        start = dict(best)
        for name, values in tuning.SPACE["cpu" if device.cpu_like else "gpu"].items():
            for value in (best[name],) + values:  # the default is measured first
                candidate = tuple({**best, name: value}.items())
                if candidate in times or not _usable(device, dtype, dict(candidate)) or \
                        (deadline and times and time.perf_counter() > deadline):
                    continue
                times[candidate] = _time_products(device, dtype, cls, dict(candidate), quick)
                bar.update(1)
            best = dict(min(times, key=times.get))
        if best == start:
            break
    return best, times


def _usable(device, dtype, params) -> bool:
    """A candidate that builds and fits the device (a GPU tile's work-group and local memory;
    vector reads only where the compute type is float32, else they are the scalar tile)."""
    if "mr" in params:
        return True
    tile = tuning.Tile(**params)
    return tile.problem() is None and _fit(device, dtype.compute, tile) is tile and \
        (tile.vw == 1 or dtype.compute.name == "float32")


def _tuning_shape(device, cls, quick):
    """(m, k, n) measured for a shape class: square, or 64 rows (a 64-channel convolution's
    product); 4096 on a GPU, whose 128 x 128 tiles must fill its compute units to be used."""
    side = 256 if quick else 1024 if device.cpu_like else 4096
    return (side, side, side) if cls == "large" else (32 if quick else 64, side, side)


def _time_products(device, dtype, cls, params, quick) -> float:
    """Median seconds of one product of the class's shape with ``params`` forced."""
    m, k, n = _tuning_shape(device, cls, quick)
    rng = np.random.default_rng(0)
    a, b = (from_numpy_values(Array, rng.standard_normal(s).astype(dtype.compute.numpy),
                              dtype, device) for s in ((m, k), (k, n)))
    tuning.FORCED.update(params)
    try:
        mm(a, b)  # builds the kernels
        device.synchronize()
        laps = []
        for _ in range(3 if quick else 5):
            start = time.perf_counter()
            mm(a, b)
            device.synchronize()
            laps.append(time.perf_counter() - start)
    finally:
        tuning.FORCED.clear()
    return sorted(laps)[len(laps) // 2]


def batch_strides(x: Array, batch_shape) -> tuple:
    """The single batch stride of ``x`` broadcast to ``batch_shape``, or None when its batch
    dims cannot be walked with one stride."""
    lead = len(batch_shape) - (len(x._shape) - 2)
    strides = (0,) * lead + tuple(0 if s == 1 and t != 1 else st for s, st, t in zip(
        x._shape[:-2], x._strides[:-2], batch_shape[lead:]))
    sizes, (collapsed,) = collapse(tuple(batch_shape), [strides])
    if len(sizes) > 1:
        return None
    return collapsed[0] if collapsed else 0
