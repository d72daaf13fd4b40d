"""torch.distributed over MPI and DistributedDataParallel, for real: each test starts 2 or 4
processes with ``cltorch run -n N`` (mpiexec from MPICH's wheel, the ``distributed`` extra)
running tests/dist_worker.py, which checks every collective against NumPy and DDP against one
process training on the whole batch; a rank that raises, or one that never joins a collective,
ends the whole run quickly with its error. Without mpi4py and mpiexec these tests skip."""
import os
import re
import subprocess
import sys
import time

import pytest

from cltorch.backend import registry
from cltorch.distributed import launch

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "pytorch", "ddp_train.py")


def _launcher():
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None:
        return None
    try:
        return launch.mpiexec()
    except RuntimeError:
        return None


pytestmark = pytest.mark.skipif(_launcher() is None, reason="needs mpi4py and mpiexec (pip "
                                                            "install \"cltorch[distributed]\")")
DEVICES = ["cpu"] + (["opencl:0"] if registry.device_count("opencl") else [])


def _ranks(count, *args, script=os.path.join(HERE, "dist_worker.py"), timeout=300, env=None):
    """``cltorch run -n count script args``: (exit status, stdout, stderr, seconds)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CLTORCH_CUDA")}
    environ.update(env or {})
    start = time.monotonic()
    child = subprocess.run([sys.executable, "-m", "cltorch", "run", "-n", str(count), script,
                            *args], capture_output=True, text=True, timeout=timeout,
                           env=environ, cwd=HERE)
    return child.returncode, child.stdout, child.stderr, time.monotonic() - start


@pytest.mark.parametrize("count", [2, 4])
def test_collectives_match_numpy_on_every_device(count):
    code, out, err, _ = _ranks(count, "collectives", *DEVICES)
    assert code == 0, out[-2000:] + err[-4000:]
    assert f"ok collectives {' '.join(map(str, range(count)))}" in out


@pytest.mark.parametrize("count", [2, 4])
def test_ddp_trains_as_one_process_with_the_whole_batch(count, device):
    code, out, err, _ = _ranks(count, "ddp", device)
    assert code == 0, out[-2000:] + err[-4000:]
    assert f"ok ddp {' '.join(map(str, range(count)))}" in out


def test_a_rank_that_raises_ends_every_rank():
    code, out, err, seconds = _ranks(2, "fail", timeout=120)
    assert code != 0 and "not reached" not in out
    assert "ValueError: rank 1 fails mid-step" in err
    assert seconds < 60  # the other rank did not wait in its all_reduce


def test_a_rank_left_waiting_gets_a_timeout_error():
    code, out, err, seconds = _ranks(2, "timeout", timeout=120)
    assert code != 0 and "not reached" not in out
    assert re.search(r"DistBackendError: all_reduce timed out after 2 s on rank 0", err), err
    assert seconds < 25  # rank 1 sleeps 30 s: the job ended before it woke


def test_one_process_is_a_group_of_one_and_bad_calls_raise():
    code = """
        import pytest, cltorch, cltorch.distributed as dist
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            dist.get_rank()
        with pytest.raises(ValueError, match="Invalid backend: 'carrier-pigeon'"):
            dist.init_process_group("carrier-pigeon")
        import os
        os.environ["WORLD_SIZE"] = "2"
        with pytest.raises(ValueError, match="WORLD_SIZE 2 is not MPI's"):
            dist.init_process_group("gloo")
        del os.environ["WORLD_SIZE"]
        dist.init_process_group("nccl")
        assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi")
        with pytest.raises(ValueError, match="twice"):
            dist.init_process_group("mpi")
        t = cltorch.arange(3.0)
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        assert t.tolist() == [0.0, 1.0, 2.0]
        with pytest.raises(ValueError, match="Tensors must be contiguous"):
            dist.all_reduce(cltorch.ones(2, 3).t())
        with pytest.raises(ValueError, match="should not be the same as the rank"):
            dist.send(t, dst=0)
        with pytest.raises(ValueError, match="tensor_list: 2 tensors for a group of 1"):
            dist.all_gather([t, t], t)
        with pytest.raises(ValueError, match="``scatter_list`` must be specified on source"):
            dist.scatter(t)
        with pytest.raises(ValueError, match="Group .0. does not contain global rank 3"):
            dist.broadcast(t, src=3)
        with pytest.raises(TypeError, match="Expected parameter `tensor` of type"):
            dist.all_reduce([1.0])
        with pytest.raises(RuntimeError, match="doesn't have any parameter that requires"):
            cltorch.nn.parallel.DistributedDataParallel(cltorch.nn.ReLU())
        dist.destroy_process_group()
        assert not dist.is_initialized()
        print("ok")
    """
    import textwrap
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                           text=True, timeout=120, env=env)
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-3000:]


def test_mpi_launcher_variables_become_torchrun_ones():
    environ = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1",
               "MPI_LOCALNRANKS": "2"}
    launch.torchrun_environment(environ)
    assert {k: environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                    "MASTER_ADDR")} == {
        "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1"}
    environ = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "RANK": "1"}
    launch.torchrun_environment(environ)
    assert environ["LOCAL_RANK"] == "1" and environ["WORLD_SIZE"] == "2"
    assert subprocess.run([sys.executable, "-m", "cltorch", "run", "-n", "0", "x.py"],
                          capture_output=True).returncode == 2
    for args, want in ((["-n", "4", "a.py", "-n", "1"], (4, ["a.py", "-n", "1"])),
                       (["--nproc-per-node=2", "-m", "m"], (2, ["-m", "m"])),
                       (["--nproc_per_node", "3", "b.py"], (3, ["b.py"])),
                       (["a.py", "-n", "2"], (None, ["a.py", "-n", "2"])),
                       (["-n", "x", "a.py"], (None, ["-n", "x", "a.py"])),
                       (["-n", "2"], (None, ["-n", "2"]))):
        assert launch.ranks_option(args) == want, args


def _losses(out):
    return [float(v) for v in re.findall(r"^step \d+ loss (\S+)$", out, re.M)]


def test_ddp_example_on_two_ranks_matches_one_process_and_pytorch(tmp_path):
    pytest.importorskip("sklearn")
    args = ["--steps", "4"]
    reference = None
    if _has_torch():
        init = tmp_path / "init.pt"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29500 + os.getpid() % 1000),
                   RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        child = subprocess.run([sys.executable, EXAMPLE, *args, "--save-init", str(init)],
                               capture_output=True, text=True, timeout=300, env=env,
                               cwd=tmp_path)
        assert child.returncode == 0, child.stderr[-3000:]
        reference = _losses(child.stdout)
        args += ["--init-from", str(init)]
    code, out, err, _ = _ranks(2, *args, script=EXAMPLE)
    assert code == 0, out[-2000:] + err[-4000:]
    assert "device cpu ranks 2" in out and "weights equal on all 2 ranks" in out
    two = _losses(out)
    code, out, err, _ = _ranks(1, *args, script=EXAMPLE)
    assert code == 0, out[-2000:] + err[-4000:]
    one = _losses(out)
    assert len(two) == len(one) == 4
    for got, want in zip(two, one):
        assert abs(got - want) <= 1e-5 * abs(want)
    for got, want in zip(two, reference or ()):
        assert abs(got - want) <= 1e-5 * abs(want), (two, reference)


def _has_torch():
    import importlib.util
    return importlib.util.find_spec("torch") is not None
