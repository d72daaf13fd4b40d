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


@pytest.fixture(params=["native", "gpu"])
def tuned_device(request, monkeypatch):
    """Each OpenCL device, and a CPU one also as a GPU (the tiled kernel's parameters)."""
    if not registry.device_count("opencl"):
        pytest.skip("no OpenCL device")
    device = registry.get("opencl:0")
    if request.param == "gpu":
        if not device.cpu_like:
            pytest.skip("a GPU tunes its own kernels under 'native'")
        monkeypatch.setattr(device, "cpu_like", False)
    yield device
    tuning.forget(device)


def test_tune_stores_the_fastest_candidate_per_class(cache, tuned_device, monkeypatch):
    """The search measures the vendor default first, then each parameter's values with the
    others at the fastest so far; the fastest is stored and used. Timings are replaced by a
    cost with a known minimum (the real ones are noise at these sizes)."""
    device = tuned_device
    space = tuning.SPACE["cpu" if device.cpu_like else "gpu"]
    target = {name: values[-1] for name, values in space.items()}
    if not device.cpu_like:  # the largest tile that fits: 8 x 8 items of 4 x 4, k 32, vw 4
        target.update(mdimc=8, ndimc=8, mwi=4, nwi=4, kwg=32, vw=4, db=1)

    def cost(device, dtype, cls, params, quick):
        return 1 + sum(params[k] != v for k, v in target.items()) + 0.1 * (cls == "skinny")
    measured = []
    real = gemm._time_products
    monkeypatch.setattr(gemm, "_time_products", lambda *a: measured.append(a[3]) or cost(*a))
    results = gemm.tune(device, ("float32",), quick=True, progress=False)
    stored = json.loads((cache / "tuning.json").read_text())[tuning.device_key(device)]
    default = tuning.DEFAULTS[tuning.vendor_class(device)]
    for cls in tuning.CLASSES:
        params, times = results[f"float32 {cls}"]
        assert params == target == stored[f"float32 {cls}"]
        assert dict(next(iter(times))) == default[cls]  # measured first
        assert len(times) == len(set(times)) and all(gemm._usable(
            device, cltorch.float32, dict(c)) for c in times)
    assert measured[0] == default["large"]
    assert tuning.gemm_params(device, cltorch.float32, 1024, 1024) == stored["float32 large"]
    # a real measurement: positive seconds
    assert real(device, cltorch.float32, "large", default["large"], True) > 0


def test_tune_stops_at_its_budget(cache, tuned_device, monkeypatch):
    """Past the budget the search keeps the fastest so far (at least one candidate)."""
    monkeypatch.setattr(gemm, "_time_products", lambda *a: 1.0)
    results = gemm.tune(tuned_device, ("float32",), quick=True, progress=False, budget=1e-9)
    for params, times in results.values():
        assert len(times) == 1 and dict(next(iter(times))) == params


def test_every_candidate_computes_the_product(tuned_device, monkeypatch):
    """Each value tune may choose for each parameter (the others at the vendor default) gives
    the product (edges, a transposed operand, a batch)."""
    device = tuned_device
    a, b = (np.random.default_rng(s).standard_normal(shape).astype(np.float32)
            for s, shape in ((1, (2, 150, 77)), (2, (2, 131, 77))))
    default = tuning.DEFAULTS[tuning.vendor_class(device)]["large"]
    tried = 0
    for name, values in tuning.SPACE["cpu" if device.cpu_like else "gpu"].items():
        for value in values:
            params = {**default, name: value}
            if not gemm._usable(device, cltorch.float32, params):
                continue
            monkeypatch.setattr(tuning, "FORCED", params)
            got = cltorch.tensor(a, device=device.name) @ cltorch.tensor(b, device=device.name).mT
            assert_close(got, a.astype(np.float64) @ b.astype(np.float64).transpose(0, 2, 1),
                         rtol=1e-5, atol=1e-5)
            tried += 1
    assert tried >= (3 if device.cpu_like else 12)


def test_tune_command(cache, capsys):
    if not registry.device_count("opencl"):
        pytest.skip("no OpenCL device")
    from cltorch.cli import main
    assert main(["tune", "--device", "opencl:0", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "float32 large" in out and str(cache / "tuning.json") in out
