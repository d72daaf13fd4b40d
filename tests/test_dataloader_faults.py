"""DataLoader workers that die, fail or are abandoned (issue 11): the main process raises
promptly with PyTorch's messages and no worker outlives its loader. Each scenario runs in a
child process with a time limit, so a hang fails the test instead of the run."""
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from cltorch.backend import registry

PRELUDE = textwrap.dedent("""
    import multiprocessing, os, signal, sys, time, gc
    import cltorch
    from cltorch.utils.data import DataLoader, Dataset

    class Data(Dataset):
        def __init__(self, bad=None, how=None):
            self.bad, self.how = bad, how
        def __len__(self):
            return 8
        def __getitem__(self, i):
            if i == self.bad:
                if self.how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if self.how == "exit":
                    os._exit(3)
                if self.how == "raise":
                    raise KeyError(f"no item {i}")
                if self.how == "value":
                    raise ValueError(f"bad item {i}")
            return cltorch.tensor([float(i)])

    class OnDevice(Dataset):
        def __len__(self):
            return 4
        def __getitem__(self, i):
            return cltorch.ones(2, device="opencl:0") * i

    def children():
        return len(multiprocessing.active_children())
""")


def _run(body, timeout=90):
    """Run ``body`` as a script's main block (a file: spawned workers import it)."""
    code = PRELUDE + "\nif __name__ == '__main__':\n" + textwrap.indent(
        textwrap.dedent(body), "    ")
    with tempfile.TemporaryDirectory() as folder:
        script = os.path.join(folder, "scenario.py")
        with open(script, "w") as f:
            f.write(code)
        result = subprocess.run([sys.executable, script], capture_output=True, text=True,
                                timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("how,expected", [
    ("kill", "is killed by signal: Killed."),
    ("exit", "exited unexpectedly"),
])
@pytest.mark.parametrize("timeout", [0, 30])
def test_a_dying_worker_is_reported_promptly(how, expected, timeout):
    out = _run(f"""
        start = time.monotonic()
        try:
            for batch in DataLoader(Data(3, "{how}"), batch_size=2, num_workers=2,
                                    timeout={timeout}):
                pass
            print("no error")
        except RuntimeError as error:
            print("raised", str(error), round(time.monotonic() - start, 1))
    """)
    assert out.startswith("raised DataLoader worker (pid(s) ") and expected in out, out
    assert float(out.split()[-1]) < 10  # noticed in seconds, whatever the timeout


@pytest.mark.parametrize("how,kind", [("raise", "KeyError"), ("value", "ValueError")])
def test_a_dataset_error_is_reraised_with_its_type_and_traceback(how, kind):
    out = _run(f"""
        try:
            list(DataLoader(Data(5, "{how}"), batch_size=2, num_workers=2))
        except {kind} as error:
            print("raised", type(error).__name__, "|", str(error))
    """)
    assert out.startswith(f"raised {kind} |") and \
        f"Caught {kind} in DataLoader worker process" in out
    assert "Original Traceback (most recent call last)" in out and "__getitem__" in out


def test_a_failing_worker_init_fn_is_raised_at_once():
    out = _run("""
        def init(worker_id):
            raise ValueError(f"cannot start worker {worker_id}")
        start = time.monotonic()
        try:
            list(DataLoader(Data(), batch_size=2, num_workers=2, worker_init_fn=init))
        except ValueError as error:
            print("raised", round(time.monotonic() - start, 1), "|", str(error))
    """)
    assert out.startswith("raised") and "cannot start worker" in out
    assert float(out.split()[1]) < 10


def test_no_worker_outlives_its_loader():
    out = _run("""
        for batch in DataLoader(Data(), batch_size=2, num_workers=2):
            break                           # abandoned mid-epoch
        gc.collect()
        time.sleep(0.5)
        print("after break", children())
        loader = DataLoader(Data(), batch_size=2, num_workers=2, persistent_workers=True)
        list(loader)
        print("persistent", children())
        del loader
        gc.collect()
        time.sleep(0.5)
        print("after del", children())
        try:
            list(DataLoader(Data(2, "value"), batch_size=2, num_workers=2))
        except ValueError:
            pass
        time.sleep(0.5)
        print("after error", children())
    """)
    assert "after break 0" in out and "persistent 2" in out
    assert "after del 0" in out and "after error 0" in out


def test_device_tensors_in_forked_workers_raise_and_spawn_works():
    if not registry.device_count("opencl"):
        pytest.skip("needs an OpenCL device")
    out = _run("""
        cltorch.ones(1, device="opencl:0")  # the parent has opened the device
        try:
            list(DataLoader(OnDevice(), batch_size=2, num_workers=1,
                            multiprocessing_context="fork"))
        except RuntimeError as error:
            print("fork:", " ".join(str(error).splitlines()[-1:]))
        batches = list(DataLoader(OnDevice(), batch_size=2, num_workers=1,
                                  multiprocessing_context="spawn"))
        print("spawn:", [b.sum().item() for b in batches])
    """, timeout=180)
    assert "Cannot re-initialize OpenCL in forked subprocess" in out
    assert "spawn: [2.0, 10.0]" in out
