"""Process groups over MPI (mpi4py): the default group (every process ``mpirun``/``mpiexec``
or ``cltorch run -n`` started), ``new_group``'s subgroups, ranks, and what happens when a
rank fails.

MPI does the rendezvous, so every backend name PyTorch programs pass (``"mpi"``, ``"gloo"``,
``"nccl"``, ``"cpu:gloo,cuda:nccl"``) and every ``init_method`` (``env://``, ``tcp://``,
``file://``) mean MPI's world here; ``rank``/``world_size`` and the environment's
``RANK``/``WORLD_SIZE`` (torchrun's) are checked against MPI's. A process that raises an
uncaught exception in a group of several aborts the MPI job (the traceback first), so the
other ranks stop at once instead of waiting in a collective for ever, as ``python -m mpi4py``
does; and every collective gives up after the group's ``timeout`` (default 30 minutes, as
PyTorch's) with a DistBackendError.
"""
from __future__ import annotations

import datetime
import importlib.util
import os
import sys
import time

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
BACKENDS = ("mpi", "gloo", "nccl", "ucc")


class DistError(RuntimeError):
    """``torch.distributed.DistError``."""


class DistBackendError(DistError):
    """A collective failed or timed out (``torch.distributed.DistBackendError``)."""


class ProcessGroup:
    """A set of ranks with its own MPI communicator: ``rank()`` and ``size()`` within it,
    ``ranks`` its members' global ranks in order."""

    def __init__(self, comm, ranks, timeout):
        self.comm, self.ranks, self.timeout = comm, list(ranks), timeout
        self._rank = comm.Get_rank()

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return len(self.ranks)

    def name(self) -> str:
        return "mpi"

    def group_rank(self, global_rank: int) -> int:
        """The rank within this group of global rank ``global_rank``."""
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(f"Group {self.ranks} does not contain global rank "
                             f"{global_rank}.") from None

    def __repr__(self):
        return f"ProcessGroup(mpi, ranks={self.ranks})"


class GroupMember:
    """``torch.distributed.GroupMember``: WORLD (the default group once initialised) and
    NON_GROUP_MEMBER (what ``new_group`` returns to a rank outside the new group)."""

    WORLD = None
    NON_GROUP_MEMBER = object()


class _World:
    default = None    # the default ProcessGroup
    groups = []       # new_group's groups, freed with the default one
    excepthook = None  # sys.excepthook before init_process_group set its own


def is_available() -> bool:
    """Whether process groups can be made: mpi4py (and so an MPI library) is installed."""
    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    return _World.default is not None


def _mpi():
    if not is_available():
        raise RuntimeError("cltorch.distributed needs mpi4py and an MPI library: pip install "
                           "\"cltorch[distributed]\" (mpi4py with MPICH's wheel)")
    from mpi4py import MPI
    return MPI


def _check_backend(backend) -> None:
    if backend is None:
        return
    for part in str(backend).lower().split(","):
        name = part.split(":")[-1].strip()
        if name not in BACKENDS:
            raise ValueError(f"Invalid backend: '{backend}'")


def _check_rank(what, given, actual, size) -> None:
    if given not in (None, -1, "") and int(given) != actual:
        raise ValueError(f"init_process_group: {what} {given} is not MPI's ({actual}, of "
                         f"{size} processes): start the processes with mpirun/mpiexec or "
                         f"`cltorch run -n N`")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the default process group: every process of the MPI job."""
    if is_initialized():
        raise ValueError("trying to initialize the default process group twice!")
    _check_backend(backend)
    MPI = _mpi()
    world = MPI.COMM_WORLD
    size, me = world.Get_size(), world.Get_rank()
    _check_rank("rank", rank, me, size)
    _check_rank("world_size", world_size, size, size)
    if init_method in (None, "env://"):
        _check_rank("RANK", os.environ.get("RANK"), me, size)
        _check_rank("WORLD_SIZE", os.environ.get("WORLD_SIZE"), size, size)
    group = ProcessGroup(world.Dup(), range(size), timeout or DEFAULT_TIMEOUT)
    _World.default = GroupMember.WORLD = group
    if size > 1:
        _World.excepthook = sys.excepthook
        sys.excepthook = _abort_job


def _abort_job(kind, value, trace):
    """An uncaught exception in one rank of several: its traceback, then the whole MPI job
    ends (the other ranks would wait in their next collective for ever)."""
    (_World.excepthook or sys.__excepthook__)(kind, value, trace)
    sys.stderr.flush()
    sys.stdout.flush()
    # the launcher forwards a rank's output from a pipe, and stops reading at the abort: a
    # moment for it to take the traceback first (tests lost its end without this)
    time.sleep(0.5)
    _mpi().COMM_WORLD.Abort(1)


def destroy_process_group(group=None) -> None:
    """Free ``group`` (default: the default group and every group made from it)."""
    if group is None or group is _World.default:
        _need_default()
        for made in _World.groups + [_World.default]:
            made.comm.Free()
        _World.groups, _World.default, GroupMember.WORLD = [], None, None
        if _World.excepthook is not None:
            sys.excepthook, _World.excepthook = _World.excepthook, None
        return
    if group in _World.groups:
        _World.groups.remove(group)
        group.comm.Free()


def _need_default() -> ProcessGroup:
    if _World.default is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return _World.default


def resolve(group) -> ProcessGroup:
    """The ProcessGroup a call's ``group`` argument names (None: the default one)."""
    default = _need_default()
    if group is None or group is GroupMember.WORLD:
        return default
    if group is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("Invalid process group specified: this rank is not in the group")
    return group


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization=False, group_desc=None, device_id=None):
    """A group of ``ranks`` (global ranks; default all). Every rank of the default group must
    call it, in the same order; ranks outside get ``GroupMember.NON_GROUP_MEMBER``."""
    default = _need_default()
    _check_backend(backend)
    ranks = sorted(set(ranks)) if ranks is not None else list(default.ranks)
    for r in ranks:
        if not 0 <= r < default.size():
            raise ValueError(f"The new group's rank should be within the world_size set by "
                             f"init_process_group, got {r}")
    MPI = _mpi()
    me = default.rank()
    comm = default.comm.Split(0 if me in ranks else MPI.UNDEFINED,
                              ranks.index(me) if me in ranks else 0)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    group = ProcessGroup(comm, ranks, timeout or default.timeout)
    _World.groups.append(group)
    return group


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (-1 outside it)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        _need_default()
        return -1
    return resolve(group).rank()


def get_world_size(group=None) -> int:
    """How many ranks ``group`` has (-1 for a group this rank is outside)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        _need_default()
        return -1
    return resolve(group).size()


def get_backend(group=None) -> str:
    resolve(group)
    return "mpi"


def get_global_rank(group, group_rank: int) -> int:
    """The global rank of ``group``'s rank ``group_rank``."""
    group = resolve(group)
    if not 0 <= group_rank < group.size():
        raise ValueError(f"Group rank {group_rank} is not part of group {group}")
    return group.ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    """The rank within ``group`` of ``global_rank``."""
    return resolve(group).group_rank(global_rank)


def get_process_group_ranks(group) -> list:
    return list(resolve(group).ranks)
