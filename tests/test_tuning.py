"""GEMM tuning (cltorch/ops/tuning.py): defaults per vendor class, the database that `cltorch tune`
fills, a damaged database, every candidate's numbers, and the command line."""
import json
import types

import numpy as np
import pytest
from conftest import assert_close

import cltorch
from cltorch.ops import gemm, tuning
from cltorch.backend import registry


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CLTORCH_CACHE_DIR", str(tmp_path))
    yield tmp_path
    for device in registry.all_devices():  # lookups made against the temporary database
        tuning.forget(device)


def _fake(vendor="", cpu=False):
    info = types.SimpleNamespace(vendor=vendor, backend="opencl", name="x", version="3.0",
                                 driver="1")
    return types.SimpleNamespace(cpu_like=cpu, info=lambda: info, plans={})


@pytest.mark.parametrize("vendor,cpu,kind", [
    ("NVIDIA Corporation", False, "nvidia"), ("Advanced Micro Devices, Inc.", False, "amd"),
    ("Intel(R) Corporation", False, "intel"), ("Imagination", False, "gpu"),
    ("AuthenticAMD", True, "cpu")])
def test_untuned_devices_get_their_vendor_class_defaults(cache, vendor, cpu, kind):
    device = _fake(vendor, cpu)
    assert tuning.vendor_class(device) == kind
    for m, n, cls in ((1024, 1024, "large"), (64, 4096, "skinny")):
        assert tuning.gemm_params(device, cltorch.float32, m, n) == tuning.DEFAULTS[kind][cls]
    assert device.plans  # memoised: later lookups are one dict get


def test_a_damaged_database_means_defaults_and_a_warning(cache):
    (cache / "tuning.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="ignoring the tuning database"):
        params = tuning.gemm_params(_fake("NVIDIA"), cltorch.float32, 2048, 2048)
    assert params == tuning.DEFAULTS["nvidia"]["large"]


@pytest.mark.parametrize("index", range(registry.device_count("opencl")))
def test_tune_stores_the_fastest_candidate_per_class(cache, index):
    device = registry.get(f"opencl:{index}")
    results = gemm.tune(device, ("float32",), quick=True, progress=False)
    (name, values), = tuning.SPACE["cpu" if device.cpu_like else "gpu"].items()
    stored = json.loads((cache / "tuning.json").read_text())[tuning.device_key(device)]
    for cls in tuning.CLASSES:
        params, times = results[f"float32 {cls}"]
        assert set(times) == set(values) and all(t > 0 for t in times.values())
        assert params == {name: min(times, key=times.get)} == stored[f"float32 {cls}"]
    assert tuning.gemm_params(device, cltorch.float32, 1024, 1024) == stored["float32 large"]


@pytest.mark.parametrize("index", range(registry.device_count("opencl")))
def test_every_candidate_computes_the_product(index, monkeypatch):
    """Each value tune may choose gives the product (edges, a transposed operand, a batch)."""
    device = registry.get(f"opencl:{index}")
    a, b = (np.random.default_rng(s).standard_normal(shape).astype(np.float32)
            for s, shape in ((1, (2, 150, 77)), (2, (2, 131, 77))))
    (name, values), = tuning.SPACE["cpu" if device.cpu_like else "gpu"].items()
    for value in values:
        monkeypatch.setattr(tuning, "FORCED", {name: value})
        got = cltorch.tensor(a, device=device.name) @ cltorch.tensor(b, device=device.name).mT
        assert_close(got, a.astype(np.float64) @ b.astype(np.float64).transpose(0, 2, 1),
                     rtol=1e-5, atol=1e-5)


def test_tune_command(cache, capsys):
    if not registry.device_count("opencl"):
        pytest.skip("no OpenCL device")
    from cltorch.cli import main
    assert main(["tune", "--device", "opencl:0", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "float32 large" in out and str(cache / "tuning.json") in out
