"""Starting a data-parallel run: ``cltorch run -n N script.py`` runs ``mpiexec -n N`` over
``cltorch run script.py``; and each process MPI started sees torchrun's environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``) made from MPI's, so that programs written for torchrun find their rank."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

# (rank, size, local rank, local size) as MPICH's Hydra and Open MPI's launchers name them
_MPI_ENV = (("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
             "OMPI_COMM_WORLD_LOCAL_SIZE"))


def torchrun_environment(environ=os.environ) -> None:
    """Set torchrun's variables from the MPI launcher's where MPI started this process and
    they are not set already."""
    for names in _MPI_ENV:
        if names[0] in environ:
            values = [environ.get(name) for name in names]
            local_rank = values[2] if values[2] is not None else values[0]
            local_size = values[3] if values[3] is not None else values[1]
            for key, value in (("RANK", values[0]), ("WORLD_SIZE", values[1]),
                               ("LOCAL_RANK", local_rank), ("LOCAL_WORLD_SIZE", local_size),
                               ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
                environ.setdefault(key, value)
            return


def ranks_option(target: list) -> tuple:
    """(process count, the rest) of ``cltorch run``'s arguments: ``-n N``, ``--nproc N`` or
    torchrun's ``--nproc-per-node N`` / ``--nproc_per_node=N`` before the program; (None,
    target) without one."""
    if not target:
        return None, target
    flag, _, value = target[0].partition("=")
    if flag not in ("-n", "--nproc", "--nproc-per-node", "--nproc_per_node"):
        return None, target
    rest = target[1:]
    if not value and rest:
        value, rest = rest[0], rest[1:]
    if not value.isdigit() or not rest:
        return None, target  # the usage message
    return int(value), rest


def mpiexec() -> str:
    """The MPI launcher: the one installed beside this Python (the ``mpich`` wheel's), else
    the first on PATH."""
    here = os.path.dirname(sys.executable)
    for name in ("mpiexec", "mpirun"):
        found = shutil.which(name, path=here) or shutil.which(name)
        if found:
            return found
    raise RuntimeError("cltorch run -n needs an MPI launcher (mpiexec): pip install "
                       "\"cltorch[distributed]\" (mpi4py and MPICH's wheel)")


def command(count: int, program: list) -> list:
    """``mpiexec -n count program...`` (Open MPI's launcher also told to oversubscribe, and
    that root may run it)."""
    launcher = mpiexec()
    flags = []
    version = subprocess.run([launcher, "--version"], capture_output=True, text=True)
    if "Open MPI" in version.stdout + version.stderr:
        flags = ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return [launcher, "-n", str(count), *flags, *program]


def run_ranks(count: int, target: list) -> int:
    """``mpiexec -n count`` over ``cltorch run target``: its exit status."""
    if count < 1:
        print(f"cltorch run: -n takes a positive number of processes, not {count}",
              file=sys.stderr)
        return 2
    return subprocess.call(command(count, [sys.executable, "-m", "cltorch", "run", *target]))
