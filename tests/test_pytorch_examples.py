"""The PyTorch programs of examples/pytorch/ run unchanged through ``cltorch run`` on every
device, and match real PyTorch step by step where it is installed: the same initial weights
(PyTorch writes them, cltorch reads them: ``--save-init`` / ``--init-from``), the same batches
(drawn from seeded NumPy generators), and losses equal to 1e-5 relative in float32.

``cuda`` in the programs names the device under test: CLTORCH_CUDA=none on ``cpu`` (so the
programs take their CPU branch, as under PyTorch here), CLTORCH_CUDA=opencl:N otherwise (so
they take their GPU branch on that device).
"""
import math
import os
import re
import subprocess
import sys

import pytest
from conftest import needs_fp64

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "pytorch")

# script -> (arguments of a short, deterministic run, relative tolerance of the losses)
PROGRAMS = {
    "gpt_char.py": (["--steps", "4", "--dropout", "0"], 1e-5),
    "word_language_model.py": (["--steps", "4", "--dropout", "0"], 1e-5),
    "word_language_model.py GRU": (["--steps", "3", "--dropout", "0", "--model", "GRU",
                                    "--lr", "2"], 1e-5),
    "transformer_seq2seq.py": (["--steps", "4", "--dropout", "0"], 1e-5),
    "vae.py": (["--steps", "4"], 1e-5),
    "dcgan.py": (["--steps", "4"], 1e-5),
    "time_sequence_lbfgs.py": (["--steps", "2"], 1e-9),   # float64
    "cnn_classifier.py": (["--steps", "4", "--dropout", "0", "--no-shuffle"], 1e-5),
    # 16-bit arithmetic: PyTorch and cltorch round matmul results to 16 bits in different
    # places (both accumulate in float32), so the losses agree to 16-bit precision
    "amp_training.py float16": (["--steps", "4", "--amp-dtype", "float16"], 1e-3),
    "amp_training.py bfloat16": (["--steps", "4", "--amp-dtype", "bfloat16"], 1e-3),
}
CHECKPOINTING = {"cnn_classifier.py", "amp_training.py"}
FLOAT64 = {"time_sequence_lbfgs.py"}  # the program's model is double: a device needs fp64


def _script_and_args(name, tmp_path):
    script, args = name.split()[0], list(PROGRAMS[name][0])
    if script in CHECKPOINTING:
        args += ["--checkpoint", str(tmp_path / "checkpoint.pt")]
    return os.path.join(EXAMPLES, script), args


def _losses(output: str) -> list:
    """Every number printed on the ``step N loss ...`` lines, in order."""
    return [[float(v) for v in m.group(1).split()]
            for m in re.finditer(r"^step \d+ loss (.*)$", output, re.M)]


def _run(command, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("CLTORCH_CUDA", "PYTHONPATH")}
    env.update(env_extra)
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def pytorch_reference(tmp_path_factory):
    """Per program: (initial weights file written by PyTorch, PyTorch's losses), or None
    without PyTorch."""
    cache = {}

    def reference(name):
        if name not in cache:
            try:
                import torch  # noqa: F401
            except ImportError:
                cache[name] = None
                return None
            folder = tmp_path_factory.mktemp("reference")
            script, args = _script_and_args(name, folder)
            init = str(folder / "init.pt")
            out = _run([sys.executable, script, *args, "--save-init", init], {}, folder)
            cache[name] = (init, _losses(out))
        return cache[name]
    return reference


def _accelerator_pin(device: str) -> str:
    return "none" if device == "cpu" else device


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_runs_unchanged_and_matches_pytorch(name, device, tmp_path, pytorch_reference):
    pytest.importorskip("sklearn")
    if name.split()[0] in FLOAT64:
        needs_fp64(device)
    script, args = _script_and_args(name, tmp_path)
    reference = pytorch_reference(name)
    if reference is not None:
        args += ["--init-from", reference[0]]
    out = _run([sys.executable, "-m", "cltorch", "run", script, *args],
               {"CLTORCH_CUDA": _accelerator_pin(device)}, tmp_path)
    took = re.search(r"^device (\w+)", out, re.M).group(1)
    assert took == ("cpu" if device == "cpu" else "cuda")  # the program's GPU branch
    losses = _losses(out)
    steps = int(PROGRAMS[name][0][PROGRAMS[name][0].index("--steps") + 1])
    assert len(losses) == steps and all(math.isfinite(v) for row in losses for v in row)
    if reference is None:
        return
    rtol = PROGRAMS[name][1]
    for step, (got, want) in enumerate(zip(losses, reference[1])):
        for g, w in zip(got, want):
            assert abs(g - w) <= rtol * abs(w) + 1e-7, \
                f"step {step}: cltorch {got} vs PyTorch {want} (rtol {rtol})"


def test_checkpoint_resume_through_cltorch_run(tmp_path):
    """The classifier's checkpoint (model, optimizer, scheduler) is written and resumed."""
    pytest.importorskip("sklearn")
    script = os.path.join(EXAMPLES, "cnn_classifier.py")
    checkpoint = str(tmp_path / "cnn.pt")
    common = [sys.executable, "-m", "cltorch", "run", script, "--checkpoint", checkpoint,
              "--workers", "2"]
    out = _run(common + ["--epochs", "1"], {"CLTORCH_CUDA": "none"}, tmp_path)
    assert "Test set:" in out and os.path.exists(checkpoint)
    out = _run(common + ["--epochs", "2", "--resume"], {"CLTORCH_CUDA": "none"}, tmp_path)
    assert "resumed from epoch 1" in out and out.count("Test set:") == 1
    accuracy = int(re.search(r"\((\d+)%\)", out).group(1))
    assert accuracy > 50  # two epochs learn most digits
