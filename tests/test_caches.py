"""Kernel caches: render memo, per-device compile memo, on-disk binaries keyed by what changes
them (a changed driver must not load a stale binary), and the fp64 capability check."""
import importlib.util

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
    from pyopencl.cache import get_device_cache_id
    dev = registry.get(f"opencl:{index}")
    key = str(get_device_cache_id(dev.device))
    assert dev.device.driver_version in key and dev.device.name in key
    source = cltorch.codegen.render("pointwise.mako", cltorch.codegen.OPENCL, name="k", expr="a",
                                    compute=cltorch.float32, out=cltorch.float32,
                                    operands=(("c", cltorch.float32),), out_kind="c", ndim=0,
                                    index="int")
    assert source.startswith(f"// cltorch {cltorch.__version__} ")  # library version in the key


def test_float64_on_a_device_without_fp64_is_a_clear_error(device, monkeypatch):
    dev = registry.get(device)
    x = cltorch.ones(3, device=device)
    monkeypatch.setattr(type(dev), "supports_fp64", property(lambda self: False))
    with pytest.raises(TypeError, match="no fp64 support"):
        cltorch.zeros(2, dtype=cltorch.float64, device=device)
    with pytest.raises(TypeError, match="no fp64 support"):
        x.double()
    assert (x + 1).tolist() == [2.0, 2.0, 2.0]
