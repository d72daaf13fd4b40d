"""The device CLI: listing (text and JSON) and the self-test, through the installed entry points."""
import json
import subprocess
import sys

from cltorch import cli
from cltorch.backend import registry


def test_devices_json_lists_every_backend(capsys):
    assert cli.main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"cpu", "opencl", "cuda"}
    assert len(data["opencl"]["devices"]) == registry.device_count("opencl")
    for kind in ("opencl", "cuda"):
        for info in data[kind]["devices"]:
            for field in ("name", "vendor", "compute_units", "global_mem_bytes",
                          "local_mem_bytes", "max_alloc_bytes", "max_work_group_size", "fp64",
                          "fp16", "version", "driver"):
                assert field in info
        if not data[kind]["devices"]:
            assert data[kind]["reason"]


def test_devices_text_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cltorch", "devices"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("cpu: 1 device(s)") and "opencl:" in out and "cuda:" in out


def test_doctor_passes_on_every_device(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for dev in registry.all_devices():
        assert f"{dev.name}" in out
    assert "FAIL" not in out


def test_doctor_reports_failures(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_self_test", lambda device: ["add: max error 1"])
    assert cli.main(["doctor"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cache_info_clear_and_warm(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLTORCH_CACHE_DIR", str(tmp_path))
    (tmp_path / "opencl").mkdir()
    (tmp_path / "opencl" / "a.bin").write_bytes(b"x" * 2048)
    assert cli.main(["cache", "info"]) == 0
    assert "opencl: 1 binaries" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    assert not (tmp_path / "opencl").exists()
    accelerators = [d for d in registry.all_devices() if d.kind != "cpu"]
    for dev in accelerators:  # warm keeps what this process built: the other tests' programs
        if hasattr(dev, "_unkept"):  # too, at a second compile each on PoCL; not those
            monkeypatch.setattr(dev, "_unkept", {})
    assert cli.main(["cache", "warm"]) == 0
    out = capsys.readouterr().out
    if accelerators:
        assert f"on {accelerators[0].name}" in out
        assert all(d.kernels for d in accelerators)
    else:
        assert "nothing to build" in out
