"""``cltorch.distributed`` (``torch.distributed``): importable, with no process group yet.

Programs import these names at start-up and decide from the environment (RANK, WORLD_SIZE)
whether to use them. Until the scale issue brings the MPI backend, ``is_available()`` is
False, ``is_initialized()`` is False, and the calls that need a process group raise PyTorch's
errors (``init_process_group`` says what is missing).
"""
from __future__ import annotations

from enum import Enum


class ReduceOp(Enum):
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class Backend(str):
    GLOO, NCCL, MPI = "gloo", "nccl", "mpi"


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def is_mpi_available() -> bool:
    return False


def is_nccl_available() -> bool:
    return False


def is_gloo_available() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return False


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    raise NotImplementedError("cltorch.distributed: process groups are not implemented yet "
                              "(no MPI backend); run with a single process")


def _not_initialized(*args, **kwargs):
    raise ValueError("Default process group has not been initialized, please make sure to "
                     "call init_process_group.")


get_rank = get_world_size = barrier = all_reduce = broadcast = all_gather = _not_initialized
reduce = reduce_scatter = gather = scatter = send = recv = new_group = _not_initialized
destroy_process_group = get_backend = all_gather_object = broadcast_object_list = \
    _not_initialized
