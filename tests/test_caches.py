"""Kernel caches: render memo, per-device compile memo, on-disk binaries keyed by what changes
them (a changed driver must not load a stale binary), and the fp64 capability check."""
import importlib.util
import os
import subprocess
import sys

import pytest

import cltorch
from cltorch.backend import registry

HAVE_NVRTC = importlib.util.find_spec("cuda") is not None


def test_kernel_built_once_per_device(device):
    dev = registry.get(device)
    x = cltorch.arange(7.0, device=device)
    x.mul(3).expm1()
    before = dict(dev.kernels)
    x.mul(3).expm1()
    (x.t() * 3).expm1()
    assert dev.kernels == before  # the same kernels, not rebuilt


@pytest.mark.skipif(not HAVE_NVRTC, reason="cuda-python (NVRTC) not installed")
def test_nvrtc_disk_cache_is_keyed_by_driver(tmp_path, monkeypatch):
    from cltorch.backend import cuda
    monkeypatch.setenv("CLTORCH_CACHE_DIR", str(tmp_path))
    source = "KERNEL void k(float* p) { p[0] = 1.0f; }".replace("KERNEL", 'extern "C" __global__')
    first = cuda.nvrtc_compile(source, "k", "sm_80")
    assert len(list((tmp_path / "cuda").iterdir())) == 1
    assert cuda.nvrtc_compile(source, "k", "sm_80") == first  # served from disk
    monkeypatch.setattr(cuda, "_driver_version", lambda: 99999)
    cuda.nvrtc_compile(source, "k", "sm_80")
    assert len(list((tmp_path / "cuda").iterdir())) == 2  # new driver: new entry, no reuse
    cuda.nvrtc_compile(source, "k", "sm_90")
    assert len(list((tmp_path / "cuda").iterdir())) == 3


@pytest.mark.parametrize("index", range(registry.device_count("opencl")))
def test_opencl_binary_cache_key_holds_driver_and_version(index):
    dev = registry.get(f"opencl:{index}")
    assert dev.device.driver_version in dev._identity and dev.device.name in dev._identity
    source = cltorch.codegen.render("pointwise.mako", cltorch.codegen.OPENCL, name="k", expr="a",
                                    compute=cltorch.float32, out=cltorch.float32,
                                    operands=(("c", cltorch.float32),), out_kind="c", ndim=0,
                                    index="int")
    assert source.startswith(f"// cltorch {cltorch.__version__} ")  # library version in the key


_COUNT_STORES = """
import cltorch
from cltorch.backend import binary_cache
stored, keep = [], binary_cache.store
binary_cache.store = lambda *args: (stored.append(args[0]), keep(*args))
x = cltorch.arange(10.0, device="opencl:0")
print(((x * 2).sum() + x.cumsum(0)[-1]).item(), len(stored))
"""


def test_a_warm_process_loads_opencl_binaries_instead_of_compiling(tmp_path):
    """On a GPU-type OpenCL device (Oclgrind stands in for one), the first process keeps the
    program binaries it builds and the next one loads every program from them."""
    from test_kernel_bounds import ICD, _run_on_oclgrind
    if ICD is None:
        pytest.skip("Oclgrind is not installed (apt install oclgrind)")
    script = tmp_path / "count_stores.py"
    script.write_text(_COUNT_STORES)
    outputs = []
    for _ in range(2):
        child, _ = _run_on_oclgrind(tmp_path, [str(script)])
        assert child.returncode == 0, child.stderr[-2000:]
        outputs.append(child.stdout.split())
    (value, first), (again, second) = outputs
    assert value == again == "135.0"
    assert int(first) >= 3 and int(second) == 0
    assert len(list((tmp_path / "cache" / "opencl").iterdir())) == int(first)


_KEEP_ON_REQUEST = """
import sys
import cltorch
from cltorch.backend import registry
dev = registry.get("opencl:0")
x = cltorch.arange(10.0, device="opencl:0")
value = ((x * 2).sum() + x.cumsum(0)[-1]).item()
built_from_source = len(dev._unkept)
print(value, built_from_source, dev.store_binaries() if "keep" in sys.argv else 0)
"""


def test_a_cpu_opencl_device_keeps_binaries_only_when_asked(tmp_path):
    """PoCL pays a second compile to hand a binary out, so a plain process keeps none; once
    kept (``cltorch cache warm``), a process loads every program from them."""
    if not registry.device_count("opencl") or registry.get("opencl:0").keep_binaries:
        pytest.skip("needs a CPU OpenCL device (PoCL) as opencl:0")
    script = tmp_path / "keep.py"
    script.write_text(_KEEP_ON_REQUEST)
    cache = tmp_path / "cache"
    env = dict(os.environ, CLTORCH_CACHE_DIR=str(cache))

    def run(*args):
        child = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                               text=True, env=env, timeout=600)
        assert child.returncode == 0, child.stderr[-2000:]
        value, built, kept = child.stdout.split()
        assert value == "135.0"
        return int(built), int(kept)

    built, kept = run()
    assert built >= 3 and kept == 0 and not (cache / "opencl").exists()
    assert run("keep") == (built, built)
    assert len(list((cache / "opencl").iterdir())) == built
    assert run() == (0, 0)  # every program loaded from its binary


def test_float64_on_a_device_without_fp64_is_a_clear_error(device, monkeypatch):
    dev = registry.get(device)
    x = cltorch.ones(3, device=device)
    monkeypatch.setattr(type(dev), "supports_fp64", property(lambda self: False))
    # a device's fp64 support is fixed for a process: pointwise's memoised runners (checked
    # when made) may hold a float64 cast from an earlier test in this process
    from cltorch.ops import pointwise
    monkeypatch.setattr(pointwise, "_RUNNERS", {})
    with pytest.raises(TypeError, match="no fp64 support"):
        cltorch.zeros(2, dtype=cltorch.float64, device=device)
    with pytest.raises(TypeError, match="no fp64 support"):
        x.double()
    assert (x + 1).tolist() == [2.0, 2.0, 2.0]


_TWO_KERNELS = """
INLINE float twice(float v) {{ return {k} * v; }}
#define SHIFT {k}
KERNEL void scale(GLOBAL float* out, GLOBAL const float* in) {{
    out[GID(0)] = twice(in[GID(0)]) + SHIFT;
}}
"""


@pytest.mark.parametrize("index", range(registry.device_count("opencl")))
def test_a_bundle_builds_clashing_kernels_as_one_program(index):
    """Two sources with the same kernel, helper and macro names build as one program, each
    kernel computing with its own definitions."""
    from cltorch.backend import bundles
    from cltorch.codegen import DIALECTS, render
    dev = registry.get(f"opencl:{index}")
    prelude = render("pointwise.mako", DIALECTS["opencl"], name="k", expr="a",
                     compute=cltorch.float32, out=cltorch.float32,
                     operands=(("c", cltorch.float32),), out_kind="c", ndim=0,
                     index="int").split("KERNEL void")[0]
    entries = [("scale", prelude + _TWO_KERNELS.format(k=k)) for k in (2.0, 3.0)]
    source, names = bundles.combine(entries)
    program = dev._program(source, "bundle test")
    x = cltorch.arange(4.0, device=dev.name)
    for (_, _), name, k in zip(entries, names, (2.0, 3.0)):
        out = cltorch.empty(4, device=dev.name)
        getattr(program, name)(dev.queue, (4,), None, out._storage.buffer, x._storage.buffer)
        assert out.tolist() == [k * v + k for v in range(4)]


def test_the_main_job_bundle_is_current(tmp_path):
    """Every kernel the main job compiles on a CPU OpenCL device comes from its shipped
    bundle (one program), and the bundle holds nothing else. After a template change:
    ``cltorch cache bundle`` in the source tree refreshes it."""
    if not registry.device_count("opencl") or not registry.get("opencl:0").cpu_like:
        pytest.skip("needs a CPU OpenCL device (PoCL) as opencl:0")
    from cltorch.backend import bundles
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = ("from cltorch import kernel_cache; from cltorch.backend import bundles, registry; "
              "used = kernel_cache.record(bundles.WORKLOADS['main_job']); "
              "dev = registry.get('opencl:0'); "
              "print(len(used), sum(1 for v in dev._bundled.values() if v), len(dev._unkept))")
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           cwd=tmp_path, timeout=900, env=dict(
                               os.environ, CLTORCH_CACHE_DIR=str(tmp_path / "cache"),
                               PYTHONPATH=root))
    assert child.returncode == 0, child.stderr[-2000:]
    used, bundled, programs = map(int, child.stdout.split()[-3:])
    shipped = len(bundles.read("main_job"))
    assert used == bundled == shipped and programs == 1, (
        f"the main job compiled {used} kernels, {bundled} of them from the bundle of "
        f"{shipped}, in {programs} programs: refresh it with `cltorch cache bundle` in the "
        f"source tree")
