"""Every template renders in both dialects; OpenCL builds on every OpenCL device (PoCL without
a GPU) and CUDA compiles with NVRTC for sm_75, sm_80 and sm_90 (no GPU needed)."""
import importlib.util
import os
import pathlib
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from cltorch import dtypes as D
from cltorch.backend import CompileError, registry
from cltorch.codegen import CUDA, OPENCL, render, template_names
from cltorch.codegen.render import template_folder
from cltorch.ops.pointwise import kernel_source
from cltorch.ops import fused
from cltorch.ops.pointwise_table import OPS
from cltorch.ops.reduce import ROWS as REDUCTIONS
from cltorch.ops.reduce import reduce_source
from cltorch.ops.check import check_source
from cltorch.ops.depthwise import depthwise_source
from cltorch.ops.winograd import winograd_source
from cltorch.ops.gather import gather_source
from cltorch.ops import tuning
from cltorch.ops.gemm import gemm_source, gemv_source
from cltorch.ops.im2col import im2col_source
from cltorch.ops.norm import layer_norm_source
from cltorch.ops.launch import index_types
from cltorch.ops.update import update_source
from cltorch.optim import rules as optim_rules
from cltorch.ops.random import DISTRIBUTIONS, random_source
from cltorch.ops.scan import SCANS, scan_source
from cltorch.ops.search import search_source
from cltorch.ops.scatter import scatter_source
from cltorch.ops.softmax import softmax_source
from cltorch.ops.cross_entropy import cross_entropy_source
from cltorch.ops.sort import sort_source

LONG = index_types(True)[1]  # the 64-bit index type the ops use

HAVE_NVRTC = importlib.util.find_spec("cuda") is not None


def _pointwise_samples():
    """One strided sample per op row and category, plus every storage dtype once."""
    samples = []
    for op in OPS:
        keys = {"float": D.float32, "int": D.int64}
        if op.rule == "int":
            keys = {"int": D.int32, "bool": D.int32}
        elif op.rule in ("float", "floatonly"):
            keys = {"float": D.float32}
        for key, compute in keys.items():
            out = D.bool_ if op.rule == "bool" else compute
            operands = tuple(("s" if i == 0 else "c", compute) for i in range(op.arity))
            samples.append((op, key, compute, out, operands, "s", 2, "int"))
    for dt in D.ALL:
        compute = dt.compute
        samples.append((OPS[0], "float" if compute.category == 2 else "int", compute, dt,
                        (("s", dt),), "c", 3, LONG))
    return samples


def _reduce_samples():
    """Every reduction row, final and partial, float and integer, both index widths, GPU
    (work-group) and CPU (lanes, blocks) variants."""
    samples = []
    for red in REDUCTIONS:
        for src in (D.float32, D.int64, D.float16) if red.result != "float" else (D.float32,):
            out = D.bool_ if red.result == "bool" else src
            samples.append((red, src, src.compute, out, True, 2, 2, 256, "int", False, 1))
        if not red.arg:  # a column reduction (32 outputs per group), final and partial
            samples.append((red, D.float32, D.float32, D.float32, True, 1, 1, 256, "int",
                            False, 32))
            samples.append((red, D.float32, D.float32, D.float32, False, 2, 1, 64, LONG, False,
                            32))
        if red.arg:  # the two passes of a long arg reduction
            samples.append((red, D.bfloat16, D.float32, D.float32, False, 1, 3, 64, LONG,
                            False, 1))
            samples.append((red, D.float32, D.float32, D.float32, True, 1, 1, 1, "int", True,
                            1))
        else:
            samples.append((red, D.bfloat16, D.float32, D.float32, False, 1, 3, 64, LONG,
                            False, 1))
            samples.append((red, D.float32, D.float32, D.float32, True, 1, 1, 1, "int", True,
                            1))
    samples.append((REDUCTIONS[0], D.float64, D.float64, D.float64, True, 0, 1, 32, "int",
                    False, 1))
    samples = [sample + ("", 1) for sample in samples]
    for red in REDUCTIONS:
        if not red.arg:  # CPU rows (lanes), final
            samples.append((red, D.float16, D.float32, D.float16 if red.result != "bool" else
                            D.bool_, True, 0, 2, 1, "int", False, 1, "rows", 16))
        if red.name in ("sum", "amax", "all"):  # CPU blocks, partial (the same combines)
            samples.append((red, D.float32, D.float32, D.float32, False, 2, 2, 1, LONG, False,
                            1, "block", 256))
    return samples


GEMM_DTYPES = [(D.float32, D.float32), (D.float64, D.float64), (D.float16, D.float32),
               (D.bfloat16, D.float32), (D.int64, D.int64), (D.int8, D.int32)]


# The tiled GEMM's tiles: the defaults (64 x 64 and 128 x 128), and CLBlast's other options
# (vector reads, double buffering, items and register blocks not square)
GEMM_TILES = (tuning.MEDIUM, tuning.LARGE, tuning.Tile(8, 16, 8, 4, 16, 4, 1),
              tuning.Tile(16, 8, 2, 4, 8, 2, 1))


def _gemm_samples():
    """(dtype, compute, index, variant, tile, width, windows): the GPU tiles, the CPU blocks,
    and the CPU float kernels (panels of A's 6 rows and B's 2 vectors; vectors of 32 bytes,
    scalars in CUDA's dialect); the GPU tiles reading B from an image's windows."""
    return [(dt, ct, index, variant, tile, 0, "") for dt, ct in GEMM_DTYPES
            for index, variant, tile in (("int", "tiled", GEMM_TILES[0]),
                                         (LONG, "tiled", GEMM_TILES[1]),
                                         ("int", "tiled", GEMM_TILES[2]),
                                         (LONG, "tiled", GEMM_TILES[3]),
                                         ("int", "blocked", GEMM_TILES[0]))] + \
        [(dt, ct, index, variant, GEMM_TILES[0], 32 // ct.itemsize, "")
         for dt, ct in GEMM_DTYPES[:4]
         for index, variant in (("int", "pack"), (LONG, "packed"))] + \
        [(dt, ct, index, "tiled", tile, 0, windows) for dt, ct in GEMM_DTYPES[:4]
         for index, tile, windows in (("int", GEMM_TILES[0], "positions"),
                                      (LONG, GEMM_TILES[1], "taps"),
                                      ("int", GEMM_TILES[2], "gradient"))]


_UPDATE_RULES = (optim_rules.sgd(False), optim_rules.sgd(True), optim_rules.adam(True, False),
                 optim_rules.adam(False, True), optim_rules.rmsprop(True, True),
                 optim_rules.adagrad(), optim_rules.adamax(), optim_rules.nadam(True),
                 optim_rules.radam(False), optim_rules.adadelta(), optim_rules.rprop(),
                 optim_rules.asgd())


SAMPLES = {"pointwise.mako": _pointwise_samples(), "reduce.mako": _reduce_samples(),
           "gemm.mako": _gemm_samples(),
           "random.mako": [(dist, out, compute) for dist in DISTRIBUTIONS
                           for out, compute in ((D.float32, D.float32), (D.float64, D.float64),
                                                (D.float16, D.float32), (D.int64, D.float32),
                                                (D.bool_, D.float32))],
           "scan.mako": [(op, src, kept, index, phase) for op in SCANS.values()
                         for src in (D.float32, D.int64, D.bfloat16)
                         for kept, index, phase in ((0, "int", "line"), (2, LONG, "total"),
                                                    (1, "int", "rescan"))],
           "gather.mako": [(dt, ndim, dim, index) for dt in (D.float16, D.float32, D.float64,
                                                             D.int64, D.bool_)
                           for ndim, dim, index in ((1, 0, "int"), (3, 1, LONG))],
           "check.mako": [(dt, ndim, index) for dt in (D.int64, D.int32, D.float32,
                                                       D.float64, D.float16, D.bfloat16)
                          for ndim, index in ((0, "int"), (1, "int"), (3, LONG))],
           "search.mako": [(src, vals, right) for src, vals in ((D.float32, D.float32),
                                                                 (D.int64, D.float64),
                                                                 (D.float16, D.int32))
                           for right in (False, True)],
           "sort.mako": [(dt, desc) for dt in (D.float32, D.float64, D.int64, D.int32)
                         for desc in (False, True)],
           "gemv.mako": [(dt, ct, index, group, width, columns) for dt, ct in GEMM_DTYPES
                         for index, group, width, columns in (
                             ("int", 1, 16, 1), (LONG, 256, 1, 1), ("int", 1, 1, 1),
                             (LONG, 256, 1, 16))],
           "layer_norm.mako": [(dt, backward, affine, group, index, width)
                               for dt in (D.float32, D.float16, D.bfloat16, D.float64)
                               for backward in (False, True)
                               for affine, group, index, width in (
                                   (True, 256, "int", 0), (False, 1, LONG, 0),
                                   (True, 1, "int", 32 // dt.itemsize if dt.itemsize > 2 else 0),
                                   (False, 1, LONG, 32 // dt.itemsize if dt.itemsize > 2 else 0))],
           "cross_entropy.mako": [(dt, backward, group, index, width)
                                  for dt in (D.float32, D.float64, D.float16, D.bfloat16)
                                  for backward in (False, True)
                                  for group, index, width in (
                                      (256, "int", 0), (1, LONG, 0),
                                      (1, "int", 32 // dt.compute.itemsize))],
           "im2col.mako": [(dt, direction, index, rows, "", False)
                           for dt in (D.float32, D.float64, D.float16, D.bfloat16)
                           for direction in ("unfold", "fold", "window_max", "window_mean",
                                             "window_mean_grad")
                           for index in ("int", LONG)
                           # CPU rows (fold and average pooling: compute types only)
                           for rows in (False, True)
                           if not rows or direction in ("unfold", "window_max") or
                           dt is dt.compute] +
                          # the CPU packs: panels of 16 positions or taps, float and half input
                          [(dt, "pack", index, False, rows_are, False)
                           for dt in (D.float32, D.float16)
                           for index in ("int", LONG) for rows_are in ("positions", "taps")] +
                          # adaptive pooling's cells
                          [(dt, direction, index, False, "", True)
                           for dt in (D.float32, D.float16) for index in ("int", LONG)
                           for direction in ("window_max", "window_mean", "window_mean_grad")],
           "depthwise.mako": [(dt, direction, index, False)
                              for dt in (D.float32, D.float64, D.float16, D.bfloat16)
                              for direction in ("forward", "input_grad", "weight_grad")
                              for index in ("int", LONG)] +
                             # the CPU rows (compute types)
                             [(dt, direction, index, True) for dt in (D.float32, D.float64)
                              for direction in ("forward", "input_grad")
                              for index in ("int", LONG)],
           "winograd.mako": [(dt, direction, index) for dt in (D.float32, D.float64)
                             for direction in ("weights", "input", "output")
                             for index in ("int", LONG)],
           "update.mako": [(optim_rules.sgd(True), D.float32, "int", 16),  # multi-tensor
                           (optim_rules.adam(True, False), D.float16, LONG, 3)] +
                          [(rule, dt, index, 1) for rule in _UPDATE_RULES
                           for dt, index in ((D.float32, "int"), (D.float64, LONG),
                                             (D.float16, "int"))],
           "softmax.mako": [(dt, log, kept, group, index, 0)
                            for dt in (D.float32, D.float64, D.float16, D.bfloat16)
                            for log in (False, True)
                            for kept, group, index in ((0, 1, "int"), (2, 256, LONG))] +
                           # the CPU variant: vectors of 32 bytes (scalars in CUDA's dialect)
                           [(dt, log, 1, 1, "int", 32 // dt.itemsize)
                            for dt in (D.float32, D.float64) for log in (False, True)],
           "scatter.mako": [(dt, mode, scalar, serial)
                            for dt in (D.float32, D.int32, D.float16, D.bfloat16, D.int64,
                                       D.float64, D.bool_)
                            for mode in ("set", "add", "multiply", "amax", "amin")
                            for scalar in (False, True) for serial in (False, True)
                            if (serial and mode != "set") or (not serial and (
                                mode == "set" or mode == "add" and dt.name in (
                                    "float32", "int32", "float64", "int64")))]}


# cltorch.compile's fused chains: contiguous, and strided (an operand and the output), three
# stages reading inputs and earlier stages, a scalar; float16 storage computed in float32
FUSED_STAGES = (("a * b", (("in", 0), ("in", 1))), ("exp(a)", (("stage", 0),)),
                ("a + b * c", (("stage", 1), ("in", 2), ("stage", 0))))
SAMPLES["fused.mako"] = [
    (D.float32, D.float32, (("c", D.float32), ("v", D.float32), ("c", D.float32)), "c", 0,
     "int"),
    (D.float64, D.float64, (("s", D.float64), ("c", D.float64), ("v", D.float64)), "s", 2,
     LONG),
    (D.float32, D.float16, (("c", D.float16), ("s", D.bfloat16), ("v", D.float32)), "c", 3,
     "int")]


# GEMM epilogues (cltorch.compile: a chain that alone reads the product runs in the GEMM): a
# bias broadcast over rows, an activation and a residual, into a contiguous output; in float64
# into a strided one; per variant, and on the implicit convolution's tiles
_EPILOGUE_STAGES = (("a + c * b", (("acc", 0), ("in", 0), ("in", 1))),
                    ("(a <= 0) ? 0 : a", (("stage", 0),)),
                    ("a + b", (("stage", 1), ("in", 2))))
GEMM_EPILOGUES = [
    (ct, index, variant, tile, width, windows,
     fused.Epilogue(ct, ct, (("s", ct), ("v", ct), ("c", ct)), _EPILOGUE_STAGES, out_kind, 2))
    for ct, index, variant, tile, width, windows, out_kind in (
        (D.float32, "int", "tiled", GEMM_TILES[0], 0, "", "c"),
        (D.float64, LONG, "tiled", GEMM_TILES[1], 0, "", "s"),
        (D.float32, LONG, "blocked", GEMM_TILES[0], 0, "", "c"),
        (D.float32, LONG, "packed", GEMM_TILES[0], 8, "", "s"),
        (D.float32, "int", "tiled", GEMM_TILES[2], 0, "positions", "c"))]


# reduction prologues (cltorch.compile: the chain whose result a reduction alone reads runs
# at each element it reads): a sum's GPU rows and columns, a CPU's lanes and blocks, an argmax
_PROLOGUE = fused.Epilogue(D.float32, D.float32, (("c", D.float32), ("v", D.float32),
                                                  ("c", D.float32)),
                           (("a * b - c", (("in", 0), ("in", 1), ("in", 2))),
                            ("a * a", (("stage", 0),))), "c", 0)
REDUCE_PROLOGUES = [(REDUCTIONS[0], "", 1, 1), (REDUCTIONS[0], "", 1, 32),
                    (REDUCTIONS[0], "rows", 8, 1), (REDUCTIONS[0], "block", 8, 1),
                    (next(r for r in REDUCTIONS if r.arg), "", 1, 1)]


def _sources(dialect):
    for compute, out, inputs, out_kind, ndim, index in SAMPLES["fused.mako"]:
        ep = fused.Epilogue(compute, out, inputs, FUSED_STAGES, out_kind, ndim)
        yield "fused_pointwise", fused.source(dialect, ep, index)
    for op, key, compute, out, operands, out_kind, ndim, index in SAMPLES["pointwise.mako"]:
        yield kernel_source(op, key, dialect, compute, out, operands, out_kind, ndim, index)
    for red, src, compute, out, final, kept, reduced, group, index, identity, columns, cpu, \
            lanes in SAMPLES["reduce.mako"]:
        yield f"reduce_{red.name}", reduce_source(red, dialect, src, compute, out, final, kept,
                                                  reduced, group, index, identity, columns,
                                                  cpu, lanes)
    for red, cpu, lanes, columns in REDUCE_PROLOGUES:
        yield f"reduce_{red.name}", reduce_source(
            red, dialect, D.float32, D.float32, D.float32, True, 1, 1, 1 if cpu else 64, LONG,
            columns=columns, cpu=cpu, lanes=lanes, prologue=_PROLOGUE)
    for dt, compute, index, variant, tile, width, windows in SAMPLES["gemm.mako"]:
        width = min(width, 1) if dialect.name == "cuda" else width
        yield "gemm", gemm_source(dialect, dt, dt, compute, dt, index, variant, tile, width,
                                  panel=6 if variant == "pack" else 0, windows=windows)
    for ct, index, variant, tile, width, windows, ep in GEMM_EPILOGUES:
        width = min(width, 1) if dialect.name == "cuda" else width
        yield "gemm", gemm_source(dialect, ct, ct, ct, ct, index, variant, tile, width,
                                  windows=windows, epilogue=ep)
    for op, src, kept, index, phase in SAMPLES["scan.mako"]:
        compute = src.compute if src.category == 2 else D.float32
        yield f"scan_{op.name}", scan_source(op, dialect, src, compute, compute, kept, index,
                                             phase)
    for dt, mode, scalar, serial in SAMPLES["scatter.mako"]:
        if dialect.name == "opencl" and mode == "add" and dt.itemsize == 8 and not serial:
            continue  # 64-bit atomic adds exist on the CUDA path only
        yield "scatter", scatter_source(dialect, dt, 3, 1, mode, scalar, "int", serial)
    for src, vals, right in SAMPLES["search.mako"]:
        compute = D.promote_types(src, vals).compute
        yield "searchsorted", search_source(dialect, src, vals, compute, right)
    for dt, compute, index, group, width, columns in SAMPLES["gemv.mako"]:
        yield "gemv", gemv_source(dialect, dt, dt, compute, dt, group, index, width, columns)
    for dt, backward, affine, group, index, width in SAMPLES["layer_norm.mako"]:
        width = min(width, 1) if dialect.name == "cuda" else width
        yield "layer_norm", layer_norm_source(dialect, dt, dt.compute, backward, affine, affine,
                                              group, index, width)
    for dt, direction, index, rows, rows_are, adaptive in SAMPLES["im2col.mako"]:
        yield direction, im2col_source(dialect, dt, direction, index, rows,
                                       16 if rows_are else 0, rows_are or "positions", adaptive)
    for dt, direction, index, rows in SAMPLES["depthwise.mako"]:
        yield f"depthwise_{direction}", depthwise_source(dialect, dt, direction, index, rows)
    for dt, direction, index in SAMPLES["winograd.mako"]:
        yield f"winograd_{direction}", winograd_source(dialect, dt, direction, index)
    for rule, dt, index, count in SAMPLES["update.mako"]:
        yield rule.name, update_source(dialect, rule, dt, dt, index, count)
    for dt, backward, group, index, width in SAMPLES["cross_entropy.mako"]:
        width = min(width, 1) if dialect.name == "cuda" else width
        yield "cross_entropy", cross_entropy_source(dialect, dt, backward, group, index, width)
    # a float32 output gradient for float16 logits
    yield "cross_entropy", cross_entropy_source(dialect, D.float16, True, 256, "int", 0, D.float32)
    for dt, log, kept, group, index, width in SAMPLES["softmax.mako"]:
        width = min(width, 1) if dialect.name == "cuda" else width
        yield "softmax", softmax_source(dialect, dt, dt.compute, log, kept, group, index, width)
    for dt, descending in SAMPLES["sort.mako"]:
        yield "bitonic_step", sort_source(dialect, dt, descending)
    for dt, ndim, dim, index in SAMPLES["gather.mako"]:
        yield "gather", gather_source(dialect, dt, ndim, dim, index)
    for dt, ndim, index in SAMPLES["check.mako"]:
        yield "check", check_source(dialect, dt, ndim, index)
    for dist, out, compute in SAMPLES["random.mako"]:
        yield f"random_{dist}", random_source(dialect, dist, out, compute)


def test_every_template_has_samples():
    assert set(template_names()) == set(SAMPLES)


@pytest.mark.parametrize("dialect", [OPENCL, CUDA], ids=["opencl", "cuda"])
def test_templates_render(dialect):
    for name, source in _sources(dialect):
        assert f"void {name}(" in source
        assert "${" not in source and "%>" not in source
        if dialect is CUDA:  # 32 bits on Windows: 64-bit values are long long (ct_int64)
            assert not re.search(r"(?<!long )\blong\b(?! long)", source), name


def test_only_the_prelude_names_dialect_keywords():
    folder = pathlib.Path(template_folder())
    raw = re.compile(r"__kernel|__global__|__syncthreads|threadIdx|blockIdx|barrier\(|"
                     r"get_global_id|__shared__|extern \"C\"|dialect\.name")
    for path in folder.glob("*.mako"):
        if path.name != "_prelude.mako":
            assert not raw.search(path.read_text()), f"{path.name} names a dialect keyword"


@pytest.mark.parametrize("index", range(registry.device_count("opencl")))
def test_opencl_builds(index):
    dev = registry.get(f"opencl:{index}")
    for name, source in _sources(OPENCL):
        if "double" in source and not dev.supports_fp64:
            continue
        dev.compile(source, name, None)


@pytest.mark.skipif(not HAVE_NVRTC, reason="cuda-python (NVRTC) not installed")
# the oldest architecture CUDA 13 targets, the first with bfloat16 arithmetic, and the H200's
# (sm_86 and sm_89 never failed where sm_80 passed; their 100 s went to CI's 25-minute budget)
@pytest.mark.parametrize("arch", ["sm_75", "sm_80", "sm_90"])
def test_cuda_compiles_with_nvrtc(arch):
    from cltorch.backend.cuda import nvrtc_compile
    # NVRTC lets go of the GIL while it compiles: a thread per core (sm_80 on 2 cores: 53 s
    # on one thread, 32 s on two)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        builds = [(name, pool.submit(nvrtc_compile, source, name, arch, cache=False))
                  for name, source in _sources(CUDA)]
    for name, build in builds:
        assert build.result()[:4] == b"\x7fELF", f"{name}: NVRTC did not return a cubin"


@pytest.mark.skipif(not HAVE_NVRTC, reason="cuda-python (NVRTC) not installed")
def test_nvrtc_error_carries_context():
    from cltorch.backend.cuda import nvrtc_compile
    with pytest.raises(CompileError) as info:
        nvrtc_compile("KERNEL void broken() { undefined_thing; }", "broken", "sm_80",
                      cache=False)
    err = info.value
    assert err.dialect == "cuda" and err.name == "broken" and "undefined" in err.log
    assert "   1 | KERNEL void broken()" in str(err)


@pytest.mark.parametrize("index", range(registry.device_count("opencl")))
def test_opencl_error_carries_context(index):
    source = render("pointwise.mako", OPENCL, name="bad", expr="no_such_function(a)",
                    compute=D.float32, out=D.float32, operands=(("c", D.float32),),
                    out_kind="c", ndim=0, index="int")
    with pytest.raises(CompileError) as info:
        registry.get(f"opencl:{index}").compile(source, "bad", None)
    assert info.value.dialect == "opencl" and "no_such_function" in str(info.value)


def test_render_is_memoised():
    args = dict(name="k", expr="a", compute=D.float32, out=D.float32,
                operands=(("c", D.float32),), out_kind="c", ndim=0, index="int")
    assert render("pointwise.mako", OPENCL, **args) is render("pointwise.mako", OPENCL, **args)
