"""``cltorch bench --quick`` end to end on this machine's devices: the JSON's shape, valid PNG
plots, and the compare mode. It asserts nothing about speed (benchmarks are not tests)."""
import json
import os
import subprocess
import sys

import pytest

from cltorch.backend import registry

pytest.importorskip("matplotlib", reason="the plots need matplotlib (the bench extra)")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "run.json"
    child = subprocess.run(
        [sys.executable, "-m", "cltorch", "bench", "--quick", "--threads", "1", "--json",
         str(out), "--plots", str(folder / "plots")], capture_output=True, text=True,
        timeout=600, cwd=folder)
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    return folder, json.loads(out.read_text()), child.stdout


def test_every_case_runs_on_every_device(quick_run):
    _, data, stdout = quick_run
    results = data["results"]
    targets = {r["target"] for r in results}
    devices = ["cpu:0"] + [f"opencl:{i}" for i in range(registry.device_count("opencl"))]
    assert {f"cltorch {d}" for d in devices} <= targets and "numpy" in targets
    failed = [(r["case"], r["target"], r["error"]) for r in results if "error" in r]
    assert not failed, failed
    for r in results:
        assert r["min_s"] <= r["q1_s"] <= r["median_s"] <= r["q3_s"] <= r["max_s"], r
        assert r["cold_s"] > 0 and r["rounds"] >= 3
    families = {r["family"] for r in results}
    assert {"pointwise", "reduction", "softmax", "matmul", "conv", "model", "overhead",
            "copy", "optimizer"} <= families
    matmul = next(r for r in results if r["case"] == "matmul 256" and r["kind"] == "cltorch")
    assert matmul["gflops"] > 0 and "numpy" in matmul["ratio_to"]
    model = next(r for r in results if r["family"] == "model" and r["kind"] == "cltorch")
    assert model["samples_per_s"] > 0
    assert "matmul 256" in stdout  # the table
    for d in devices[1:]:  # the tiny op against a raw pyopencl launch on each OpenCL device
        tiny = next(r for r in results if r["family"] == "overhead" and
                    r["target"] == f"cltorch {d}")
        assert f"pyopencl {d}" in tiny["ratio_to"]
        assert {r["case"] for r in results if r["target"] == f"pyopencl {d}"} == {tiny["case"]}


def test_the_json_records_the_machine(quick_run):
    _, data, _ = quick_run
    meta = data["machine"]
    assert meta["threads"] == "1" and meta["devices"][0]["backend"] == "cpu"
    assert {"numpy", "pyopencl"} <= set(meta["versions"]) and meta["python"]
    assert len(meta["git_commit"]) in (0, 40)


def test_the_plots_are_png_images(quick_run):
    import matplotlib.image
    folder, _, _ = quick_run
    names = sorted(os.listdir(folder / "plots"))
    assert names == ["matmul_gflops.png", "model_steps.png", "ratio_to_reference.png"]
    for name in names:
        image = matplotlib.image.imread(folder / "plots" / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_compare_mode_prints_and_plots(quick_run, tmp_path):
    folder, data, _ = quick_run
    slower = json.loads(json.dumps(data))
    for r in slower["results"]:
        if r["case"] == "matmul 256" and "median_s" in r:
            for key in ("median_s", "q1_s", "q3_s", "min_s", "max_s"):
                r[key] *= 10
    new = tmp_path / "new.json"
    new.write_text(json.dumps(slower))
    child = subprocess.run(
        [sys.executable, "-m", "cltorch", "bench", "--compare", str(folder / "run.json"),
         str(new), "--plots", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    lines = [line for line in child.stdout.splitlines() if line.startswith("matmul 256 ")]
    assert lines and all("SLOWER" in line and "10.00" in line for line in lines), lines
    unchanged = [line for line in child.stdout.splitlines() if line.startswith("add ")]
    assert unchanged and not any("SLOWER" in line or "faster" in line for line in unchanged)
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_scaling_runs_ddp_over_rank_counts(tmp_path):
    pytest.importorskip("mpi4py", reason="--scaling needs the distributed extra")
    out = tmp_path / "scaling.json"
    child = subprocess.run(
        [sys.executable, "-m", "cltorch", "bench", "--scaling", "1,2", "--scaling-batch", "2",
         "--rounds", "1", "--json", str(out), "--plots", str(tmp_path / "plots")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    rows = json.loads(out.read_text())["scaling"]
    assert [r["ranks"] for r in rows] == [1, 2]
    for r in rows:
        assert r["samples_per_s"] > 0 and 0 <= r["comm_share"] < 1 and r["global_batch"] == 2
    assert rows[0]["comm_ms"] == 0  # one rank: DDP has nothing to average
    assert rows[1]["all_reduce_16mib_ms"] > 0 and rows[1]["mpi_16mib_ms"] > 0
    assert "comm share" in child.stdout
    assert (tmp_path / "plots" / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
