"""``cltorch bench --scaling``: data-parallel scaling of the small ResNet (the suite's ResNet-18
at 32 px) under DistributedDataParallel, for 1, 2 and 4 ranks (``--scaling 1,2,4``) of one
machine: samples/s at a fixed global batch, the step time, and the share of it each rank spent
staging gradients and waiting for their all-reduces (DDP's ``comm_seconds``); and an
all_reduce of 16 MiB on the device beside MPI's own of a NumPy array (the cost of staging
through the host). Each configuration is an MPI run (``mpiexec -n R python -m
cltorch.bench.scaling --worker ...``); every rank gets ``--threads`` threads of its own (so 2
ranks of 1 thread use 2 cores)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def run(ranks, device: str, batch: int, steps: int, threads: int) -> list:
    """One row per rank count: ranks, samples_per_s, step_ms, comm_ms, comm_share."""
    from ..distributed import launch
    rows = []
    for count in ranks:
        if batch % count:
            raise SystemExit(f"--scaling-batch {batch} does not split over {count} ranks")
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "row.json")
            env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                       POCL_MAX_PTHREAD_COUNT=str(threads), OPENBLAS_NUM_THREADS=str(threads))
            subprocess.run(launch.command(count, [
                sys.executable, "-m", "cltorch.bench.scaling", "--worker", out, device,
                str(batch), str(steps)]), check=True, env=env)
            with open(out) as f:
                rows.append(json.load(f))
    return rows


def table(rows, out=sys.stdout) -> None:
    """The rows, with the efficiency against one rank, and the all_reduce of 16 MiB on the
    device beside MPI's own on host memory."""
    base = rows[0]["samples_per_s"] / rows[0]["ranks"] if rows else 1
    print(f"{'ranks':>5} {'samples/s':>10} {'step ms':>9} {'comm ms':>8} {'comm share':>10} "
          f"{'efficiency':>10} {'16 MiB all_reduce ms':>20} {'MPI alone ms':>12}", file=out)
    for r in rows:
        print(f"{r['ranks']:>5} {r['samples_per_s']:>10.1f} {r['step_ms']:>9.1f} "
              f"{r['comm_ms']:>8.1f} {r['comm_share']:>10.1%} "
              f"{r['samples_per_s'] / (base * r['ranks']):>10.1%} "
              f"{r['all_reduce_16mib_ms']:>20.2f} {r['mpi_16mib_ms']:>12.2f}", file=out)


def _worker(out: str, device: str, batch: int, steps: int) -> None:
    import cltorch
    import cltorch.distributed as dist
    from . import models
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    cltorch.manual_seed(0)
    model = models.resnet18_32(cltorch).to(device)
    ddp = cltorch.nn.parallel.DistributedDataParallel(model)
    opt = cltorch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    x = cltorch.tensor(rng.standard_normal((batch // size, 3, 32, 32)).astype(np.float32),
                       device=device)
    y = cltorch.tensor(rng.integers(0, 10, batch // size), device=device)

    def step():
        opt.zero_grad()
        cltorch.nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()
    step()  # warm-up: kernels built, buffers allocated
    dist.barrier()
    ddp.comm_seconds = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        step()
    cltorch.backend.registry.get(device).synchronize()
    dist.barrier()
    seconds = (time.perf_counter() - start) / steps
    comm = []
    dist.all_gather_object(comm, ddp.comm_seconds / steps)
    staged, raw = _all_reduce_ms(cltorch, dist, device)
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"ranks": size, "device": device, "global_batch": batch,
                       "samples_per_s": batch / seconds, "step_ms": seconds * 1e3,
                       "comm_ms": max(comm) * 1e3, "comm_share": max(comm) / seconds,
                       "all_reduce_16mib_ms": staged, "mpi_16mib_ms": raw}, f)
    dist.destroy_process_group()


def _all_reduce_ms(cltorch, dist, device, rounds=5) -> tuple:
    """Median ms of an all_reduce of 16 MiB (2^22 floats) on ``device``, and of MPI's own
    Allreduce of a NumPy array as large: the gap is the staging through host memory."""
    from mpi4py import MPI
    t, values = cltorch.ones(1 << 22, device=device), np.ones(1 << 22, np.float32)
    comm = dist.GroupMember.WORLD.comm
    timed = {"staged": [], "raw": []}
    for _ in range(rounds + 1):
        for kind, call in (("staged", lambda: dist.all_reduce(t)),
                           ("raw", lambda: comm.Allreduce(MPI.IN_PLACE, values))):
            dist.barrier()
            start = time.perf_counter()
            call()
            timed[kind].append(time.perf_counter() - start)
    return tuple(float(np.median(timed[k][1:])) * 1e3 for k in ("staged", "raw"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=4, metavar=("OUT", "DEVICE", "BATCH", "STEPS"))
    args = parser.parse_args()
    out, device, batch, steps = args.worker
    _worker(out, device, int(batch), int(steps))
