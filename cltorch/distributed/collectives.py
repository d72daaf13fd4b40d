"""The collectives and point-to-point calls over a process group's MPI communicator.

MPI here is not device-aware: a device tensor is staged through a host (NumPy) buffer, read
back before the call and written back when it completes (float16 and bfloat16 as float32, so
sums are exact to float32; bool as uint8). A cpu tensor's memory is the buffer itself. Every
call starts MPI's non-blocking form and ``Work.wait`` polls it until done or the group's
timeout (then DistBackendError); ``async_op=True`` hands the Work back, its tensors written
at ``wait()``. The object collectives (pickled) block, without a timeout.
"""
from __future__ import annotations

import time
from enum import Enum

import numpy as np

from ..dtypes import uint8
from .process_group import DistBackendError, _mpi, resolve


class ReduceOp(Enum):
    """``torch.distributed.ReduceOp``."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"


def _mpi_op(op, boolean: bool):
    MPI = _mpi()
    if boolean:  # bools travel as 0/1 bytes: a sum is an or, a product an and
        op = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.AVG: ReduceOp.MAX,
              ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
    table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
             ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND,
             ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}
    if op not in table:
        raise ValueError(f"Unsupported ReduceOp: {op}")
    return table[op]


def _check(tensor) -> None:
    from ..tensor import Tensor
    if not isinstance(tensor, Tensor):
        raise TypeError(f"Invalid function argument. Expected parameter `tensor` of type "
                        f"torch.Tensor but got {type(tensor)} instead.")
    if not tensor.is_contiguous():
        raise ValueError("Tensors must be contiguous")


_CONVERTED = ("float16", "bfloat16", "bool")  # staged as float32, float32, uint8


def host(tensor, fresh: bool = False, out=None) -> np.ndarray:
    """``tensor``'s values in a flat host buffer of MPI's type for its dtype: a contiguous
    cpu tensor's own memory (unless ``fresh``: a copy), else a copy read back from the
    device (into ``out`` where given: a slice of a buffer kept between calls)."""
    t = tensor.detach()
    device = t._storage.device
    if t.dtype.name not in _CONVERTED and device.kind != "cpu":
        # straight from the device buffer: 1.8 ms for 16 MiB on PoCL, against 7.6 through
        # .cpu().numpy()'s general path (measured)
        values = np.empty(t.numel(), t.dtype.storage_np) if out is None else out
        return device.download(t._storage.buffer, t._offset * t.dtype.itemsize, values)
    if t.dtype.name in ("float16", "bfloat16"):
        t = t.float()
    elif t.dtype.name == "bool":
        t = t.to(dtype=uint8)
    on_host = t.cpu()
    values = on_host.numpy().reshape(-1)
    if out is not None:
        out[...] = values
        return out
    return values.copy() if fresh and on_host._storage is tensor._storage else values


def write_back(tensor, values: np.ndarray) -> None:
    """``tensor``'s values made ``values`` (a flat host buffer of its size), in place."""
    from ..api.creation import from_numpy
    from ..autograd.grad_mode import no_grad
    device = tensor._storage.device
    direct = tensor.dtype.name not in _CONVERTED and values.dtype == tensor.dtype.storage_np
    if direct and device.kind == "cpu" and np.shares_memory(values, tensor.detach().numpy()):
        tensor._storage.version += 1
        return  # the collective wrote the tensor's own memory
    if direct and device.kind != "cpu" and tensor._offset == 0:
        device.write(tensor._storage.buffer, np.ascontiguousarray(values))  # 1.6 ms, 16 MiB
        tensor._storage.version += 1
        return
    with no_grad():
        tensor.copy_(from_numpy(np.ascontiguousarray(values).reshape(tuple(tensor.shape))))


class Work:
    """A started collective (``torch.distributed.Work``): ``wait()`` blocks until it is done
    (then its output tensors hold the result) or the group's timeout passes."""

    def __init__(self, group, what: str, requests, finish=None, outputs=(), statuses=None):
        self.group, self.what, self.requests = group, what, list(requests)
        self.finish, self.outputs, self._done, self._error = finish, list(outputs), False, None
        self.statuses = statuses  # MPI.Status per request, filled when they complete

    def _test(self) -> bool:
        if self.statuses is None:
            return _mpi().Request.Testall(self.requests)
        return _mpi().Request.Testall(self.requests, self.statuses)

    def is_completed(self) -> bool:
        if not self._done and self._test():
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        if self._done:
            return True
        seconds = (timeout or self.group.timeout).total_seconds() \
            if hasattr(timeout or self.group.timeout, "total_seconds") else float(timeout)
        deadline, delay = time.monotonic() + seconds, 0.0
        while not self._test():
            if time.monotonic() > deadline:
                self._error = DistBackendError(
                    f"{self.what} timed out after {seconds:g} s on rank {self.group.rank()} of "
                    f"group {self.group.ranks}: the other ranks did not join it (one may "
                    f"have failed, or called a different collective)")
                raise self._error
            time.sleep(delay)
            delay = min(2 * delay + 2e-6, 2e-4)  # latency: an op of 0.3 ms is not kept 1 ms
        self._complete()
        return True

    synchronize = wait

    def _complete(self):
        self._done = True
        if self.finish is not None:
            self.finish()

    def is_success(self) -> bool:
        return self._done and self._error is None

    def exception(self):
        return self._error

    def result(self) -> list:
        return self.outputs


def _run(work: Work, async_op: bool):
    if async_op:
        return work
    work.wait()
    return None


def _reduce_finish(tensor, values, op, size):
    def finish():
        if op is ReduceOp.AVG:
            if np.issubdtype(values.dtype, np.floating):
                values[...] = values / size
            else:
                values[...] = np.trunc(values / size).astype(values.dtype)
        write_back(tensor, values)
    return finish


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """``tensor`` made the reduction (``op``) of every rank's ``tensor``, in place."""
    group = resolve(group)
    _check(tensor)
    values = host(tensor)
    request = group.comm.Iallreduce(_mpi().IN_PLACE, values,
                                    op=_mpi_op(op, tensor.dtype.name == "bool"))
    return _run(Work(group, "all_reduce", [request],
                     _reduce_finish(tensor, values, op, group.size()), [tensor]), async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Every rank's ``tensor`` made global rank ``src``'s."""
    group = resolve(group)
    _check(tensor)
    root = group.group_rank(src)
    values = host(tensor)
    request = group.comm.Ibcast(values, root=root)
    finish = None if group.rank() == root else (lambda: write_back(tensor, values))
    return _run(Work(group, "broadcast", [request], finish, [tensor]), async_op)


def _one_per_rank(tensors, tensor, group, what) -> None:
    """``tensors`` (a list argument): one a rank of ``group``, each of ``tensor``'s size and
    dtype."""
    if len(tensors) != group.size():
        raise ValueError(f"{what}: {len(tensors)} tensors for a group of {group.size()}")
    for t in tensors:
        _check(t)
        if t.numel() != tensor.numel() or t.dtype != tensor.dtype:
            raise ValueError(f"{what}: every tensor must have the input's size and dtype "
                             f"({tensor.numel()} elements of {tensor.dtype})")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[i]`` made rank i's ``tensor``, on every rank."""
    group = resolve(group)
    _check(tensor)
    _one_per_rank(tensor_list, tensor, group, "all_gather: tensor_list")
    send = host(tensor)
    got = np.empty((group.size(), send.size), send.dtype)
    request = group.comm.Iallgather(send, got)

    def finish():
        for out, values in zip(tensor_list, got):
            write_back(out, values)
    return _run(Work(group, "all_gather", [request], finish, tensor_list), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """``output_tensor`` (size times the input's elements) made the ranks' inputs in order."""
    group = resolve(group)
    _check(input_tensor)
    _check(output_tensor)
    if output_tensor.numel() != group.size() * input_tensor.numel():
        raise ValueError("output tensor size must be equal to world_size times input tensor "
                         "size")
    send = host(input_tensor)
    got = np.empty(group.size() * send.size, send.dtype)
    request = group.comm.Iallgather(send, got)
    return _run(Work(group, "all_gather_into_tensor", [request],
                     lambda: write_back(output_tensor, got), [output_tensor]), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """``output`` on rank i made the reduction of every rank's ``input_list[i]``."""
    group = resolve(group)
    _check(output)
    _one_per_rank(input_list, output, group, "reduce_scatter: input_list")
    send = np.concatenate([host(t, fresh=True) for t in input_list])
    return _reduce_scatter(output, send, op, group, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """``output`` on rank i made the reduction of every rank's i-th slice of ``input``."""
    group = resolve(group)
    _check(output)
    _check(input)
    if input.numel() != group.size() * output.numel():
        raise ValueError("input tensor must be the same size as output size times world size")
    return _reduce_scatter(output, host(input, fresh=True), op, group, async_op)


def _reduce_scatter(output, send, op, group, async_op):
    values = np.empty(output.numel(), send.dtype)
    request = group.comm.Ireduce_scatter_block(send, values,
                                               op=_mpi_op(op, output.dtype.name == "bool"))
    return _run(Work(group, "reduce_scatter", [request],
                     _reduce_finish(output, values, op, group.size()), [output]), async_op)


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False):
    """Global rank ``dst``'s ``tensor`` made the reduction of every rank's (the others'
    stay as they are)."""
    group = resolve(group)
    _check(tensor)
    root, MPI = group.group_rank(dst), _mpi()
    values = host(tensor, fresh=True)
    mine = group.rank() == root
    request = group.comm.Ireduce(MPI.IN_PLACE if mine else values, values if mine else None,
                                 op=_mpi_op(op, tensor.dtype.name == "bool"), root=root)
    finish = _reduce_finish(tensor, values, op, group.size()) if mine else None
    return _run(Work(group, "reduce", [request], finish, [tensor]), async_op)


def _rooted(tensor, group, rank, listing, name, role) -> tuple:
    """(group, the root's rank in it, whether this rank is the root) of a gather or scatter
    whose root is global rank ``rank``; its list checked: one tensor a rank, like
    ``tensor``, on the root; none on the other ranks (PyTorch's errors)."""
    group = resolve(group)
    _check(tensor)
    root = group.group_rank(rank)
    mine = group.rank() == root
    if mine and listing is None:
        raise ValueError(f"Argument ``{name}`` must be specified on {role} rank.")
    if not mine and listing:
        raise ValueError(f"Argument ``{name}`` must NOT be specified on non-{role} ranks.")
    if mine:
        _one_per_rank(listing, tensor, group, name)
    return group, root, mine


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Global rank ``dst``'s ``gather_list[i]`` made rank i's ``tensor``."""
    group, root, mine = _rooted(tensor, group, dst, gather_list, "gather_list", "destination")
    send = host(tensor)
    got = np.empty((group.size(), send.size), send.dtype) if mine else None
    request = group.comm.Igather(send, got, root=root)

    def finish():
        for out, values in zip(gather_list, got):
            write_back(out, values)
    return _run(Work(group, "gather", [request], finish if mine else None,
                     gather_list or []), async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Every rank i's ``tensor`` made global rank ``src``'s ``scatter_list[i]``."""
    group, root, mine = _rooted(tensor, group, src, scatter_list, "scatter_list", "source")
    send = np.concatenate([host(t, fresh=True) for t in scatter_list]) if mine else None
    values = host(tensor, fresh=True)
    request = group.comm.Iscatter(send, values, root=root)
    return _run(Work(group, "scatter", [request], lambda: write_back(tensor, values),
                     [tensor]), async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of ``group`` has called it."""
    group = resolve(group)
    return _run(Work(group, "barrier", [group.comm.Ibarrier()]), async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier that gives up after ``timeout`` (default: the group's)."""
    group = resolve(group)
    Work(group, "monitored_barrier", [group.comm.Ibarrier()]).wait(timeout)


def isend(tensor, dst, group=None, tag=0):
    """Start sending ``tensor`` to global rank ``dst``: a Work."""
    group = resolve(group)
    _check(tensor)
    peer = group.group_rank(dst)
    if peer == group.rank():
        raise ValueError("Invalid destination rank: should not be the same as the rank of the "
                         "current process.")
    values = host(tensor, fresh=True)
    return Work(group, "send", [group.comm.Isend(values, dest=peer, tag=tag)],
                outputs=[tensor])


def irecv(tensor, src=None, group=None, tag=0):
    """Start receiving into ``tensor`` from global rank ``src`` (None: any): a Work."""
    group = resolve(group)
    _check(tensor)
    MPI = _mpi()
    peer = MPI.ANY_SOURCE if src is None else group.group_rank(src)
    if peer == group.rank():
        raise ValueError("Invalid source rank: should not be the same as the rank of the "
                         "current process.")
    values = host(tensor, fresh=True)
    request = group.comm.Irecv(values, source=peer, tag=tag)
    return Work(group, "recv", [request], lambda: write_back(tensor, values), [tensor],
                statuses=[MPI.Status()])


def send(tensor, dst, group=None, tag=0) -> None:
    """Send ``tensor`` to global rank ``dst`` (returns once it has left)."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src=None, group=None, tag=0) -> int:
    """Receive into ``tensor`` from global rank ``src`` (None: any); the sender's rank."""
    work = irecv(tensor, src, group, tag)
    work.wait()
    return work.group.ranks[work.statuses[0].Get_source()]


def all_gather_object(object_list, obj, group=None) -> None:
    """``object_list[i]`` made rank i's ``obj`` (pickled), on every rank."""
    group = resolve(group)
    object_list[:] = group.comm.allgather(obj)


def broadcast_object_list(object_list, src=0, group=None, device=None) -> None:
    """``object_list``'s items made global rank ``src``'s, on every rank."""
    group = resolve(group)
    root = group.group_rank(src)
    got = group.comm.bcast(list(object_list) if group.rank() == root else None, root=root)
    object_list[:] = got


def gather_object(obj, object_gather_list=None, dst=0, group=None) -> None:
    """Global rank ``dst``'s ``object_gather_list[i]`` made rank i's ``obj``."""
    group = resolve(group)
    got = group.comm.gather(obj, root=group.group_rank(dst))
    if got is not None:
        object_gather_list[:] = got


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=0,
                        group=None) -> None:
    """``scatter_object_output_list[0]`` made global rank ``src``'s
    ``scatter_object_input_list[rank]``."""
    group = resolve(group)
    root = group.group_rank(src)
    scatter_object_output_list[0] = group.comm.scatter(
        scatter_object_input_list if group.rank() == root else None, root=root)
