"""The examples run (so none rots): the training main job, briefly, with a resume."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_digits_and_resume(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    checkpoint = str(tmp_path / "digits.pt")
    out = _run("examples/train_digits.py", "--epochs", "4", "--checkpoint", checkpoint)
    assert "training on cpu" in out and "held-out test accuracy" in out
    accuracy = float(out.split("held-out test accuracy: ")[1].split()[0])
    assert accuracy > 0.8  # four epochs already learn most digits (0.88 measured)
    out = _run("examples/train_digits.py", "--epochs", "5", "--checkpoint", checkpoint,
               "--resume")
    assert "resumed from" in out and "after epoch 4" in out and "epoch  5:" in out
    assert "epoch  1:" not in out


def test_train_digits_compiled_matches_eager(tmp_path):
    """``--compile`` captures the training step: the same losses and accuracies, on PoCL."""
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    from cltorch.backend import registry
    if not registry.device_count("opencl"):
        pytest.skip("no OpenCL device: the cpu backend runs compiled steps eagerly")
    runs = [_run("examples/train_digits.py", "--epochs", "2", "--device", "opencl:0",
                 "--checkpoint", str(tmp_path / f"{flag}.pt"), *flag.split())
            for flag in ("", "--compile")]
    lines = [[line for line in out.splitlines() if line.startswith("epoch")] for out in runs]
    assert len(lines[0]) == 2 and lines[0] == lines[1]


def test_quickstart():
    assert "relu via where matches NumPy: [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]" in \
        _run("examples/quickstart.py")


@pytest.mark.parametrize("script,expected", [
    ("sequential_three_ways.py", "all three give the same outputs"),
    ("param_groups.py", "learning rates: [1e-05, 0.01]"),
    ("custom_function.py", "gradcheck: True"),
    ("save_load.py", "restored model gives identical outputs"),
])
def test_tutorial_examples(script, expected):
    assert expected in _run(f"examples/{script}")
