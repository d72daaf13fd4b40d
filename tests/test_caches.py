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
    with pytest.raises(TypeError, match="no fp64 support"):
        cltorch.zeros(2, dtype=cltorch.float64, device=device)
    with pytest.raises(TypeError, match="no fp64 support"):
        x.double()
    assert (x + 1).tolist() == [2.0, 2.0, 2.0]
