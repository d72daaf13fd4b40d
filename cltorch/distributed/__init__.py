"""``cltorch.distributed`` (``torch.distributed``) over MPI, through mpi4py: process groups
(``process_group.py``) and the collectives and point-to-point calls on them
(``collectives.py``). Start the processes with ``cltorch run -n N script.py`` or ``mpirun -n N
cltorch run script.py`` (``python script.py`` under mpirun works too); every backend name and
init_method a program passes means MPI's world (see process_group.py).
"""
from __future__ import annotations

import datetime

from .collectives import (ReduceOp, Work, all_gather, all_gather_into_tensor,
                          all_gather_object, all_reduce, barrier, broadcast,
                          broadcast_object_list, gather, gather_object, irecv, isend,
                          monitored_barrier, recv, reduce, reduce_scatter, reduce_scatter_tensor,
                          scatter, scatter_object_list, send)
from .process_group import (DistBackendError, DistError, GroupMember,
                            ProcessGroup, destroy_process_group, get_backend, get_global_rank,
                            get_group_rank, get_process_group_ranks, get_rank, get_world_size,
                            init_process_group, is_available, is_initialized, new_group)

__all__ = ["Backend", "DistBackendError", "DistError", "GroupMember", "ProcessGroup", "ReduceOp",
           "Work", "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce",
           "barrier", "broadcast", "broadcast_object_list", "default_pg_timeout",
           "destroy_process_group", "gather", "gather_object", "get_backend", "get_global_rank",
           "get_group_rank", "get_process_group_ranks", "get_rank", "get_world_size", "group",
           "init_process_group", "irecv", "is_available", "is_gloo_available",
           "is_initialized", "is_mpi_available", "is_nccl_available",
           "is_torchelastic_launched", "is_ucc_available", "isend", "monitored_barrier",
           "new_group", "recv", "reduce", "reduce_scatter", "reduce_scatter_tensor", "scatter",
           "scatter_object_list", "send"]

default_pg_timeout = datetime.timedelta(minutes=30)
group = GroupMember  # torch.distributed.group.WORLD


class Backend(str):
    """``torch.distributed.Backend``: the names; all of them are MPI here."""

    UNDEFINED, GLOO, NCCL, UCC, MPI = "undefined", "gloo", "nccl", "ucc", "mpi"

    def __new__(cls, name: str):
        return super().__new__(cls, name.lower())


def is_mpi_available() -> bool:
    return is_available()


def is_nccl_available() -> bool:
    return False


def is_gloo_available() -> bool:
    return False


def is_ucc_available() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return False
