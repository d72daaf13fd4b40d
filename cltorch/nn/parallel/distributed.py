"""``torch.nn.parallel.DistributedDataParallel`` over cltorch.distributed (MPI): one process a
model replica, each on its own share of the batch; the gradients are averaged over the ranks
during backward, so every replica takes the same optimizer step.

At construction the parameters and buffers are broadcast from the group's first rank (and
their shapes checked alike on every rank). The parameters that require grad are cut into
buckets (``bucket_cap_mb``, 25 MiB; the first 1 MiB so that communication starts early), in
reverse order (roughly the order backward produces their gradients). A post-accumulate-grad
hook marks a parameter ready; when every parameter of the next bucket is ready its gradients
are staged into one host buffer and its all-reduce starts (MPI's non-blocking form) while
backward goes on; at the end of backward (an engine callback) the all-reduces are waited for
and the averages written back into ``.grad``. Buckets start in the same order on every rank.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from ...autograd import engine
from ...autograd.grad_mode import is_grad_enabled
from ...distributed import collectives, process_group
from ..modules.module import Module
from .scatter_gather import as_device

FIRST_BUCKET_BYTES = 1 << 20   # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES
UNFINISHED = ("Expected to have finished reduction in the prior iteration before starting a "
              "new one. This error indicates that your module has parameters that were not "
              "used in producing loss. You can enable unused parameter detection by passing "
              "the keyword argument `find_unused_parameters=True` to "
              "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
              "function outputs participate in calculating loss.")


def _buckets(params, cap_bytes) -> list:
    """Lists of parameters, in reverse order, each of one dtype and device, the first up to
    FIRST_BUCKET_BYTES and the others up to ``cap_bytes`` (a larger parameter alone)."""
    buckets, size, limit = [], 0, FIRST_BUCKET_BYTES
    for p in reversed(params):
        nbytes = p.numel() * p.element_size()
        last = buckets[-1] if buckets else None
        if last is None or size + nbytes > limit or last[0].dtype != p.dtype or \
                last[0].device != p.device:
            if last is not None:
                limit = cap_bytes
            buckets.append([])
            size = 0
        buckets[-1].append(p)
        size += nbytes
    return buckets


def _reachable_leaves(outputs) -> set:
    """Ids of the leaves the autograd graph below ``outputs`` (any structure) reaches."""
    from ...autograd.graph import AccumulateGrad
    from ...tensor import Tensor
    stack, seen, leaves = [], set(), set()

    def collect(obj):
        if isinstance(obj, Tensor):
            if obj.grad_fn is not None:
                stack.append(obj.grad_fn)
            elif obj.requires_grad:
                leaves.add(id(obj))
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                collect(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                collect(item)
    collect(outputs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            leaves.add(id(node.variable))
        for edge in node.next_functions:
            if edge[0] is not None:
                stack.append(edge[0])
    return leaves


class DistributedDataParallel(Module):
    """``DistributedDataParallel(module, device_ids=None, output_device=None, dim=0,
    broadcast_buffers=True, process_group=None, bucket_cap_mb=None,
    find_unused_parameters=False, ...)``: ``module`` trained data-parallel across the ranks
    of ``process_group`` (default: all). ``no_sync()`` accumulates gradients locally; the
    first backward after it averages everything accumulated. ``gradient_as_bucket_view``,
    ``static_graph`` and the rest of PyTorch's tuning arguments are accepted and change
    nothing here; ``mixed_precision`` and ``device_mesh`` are not implemented.

    Example::

        >>> dist.init_process_group("mpi")          # under cltorch run -n 2 (or mpirun)
        >>> model = DistributedDataParallel(model)
        >>> loss_fn(model(x_shard), y_shard).backward()   # grads averaged over the ranks
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False,
                 delay_all_reduce_named_params=None, param_to_hook_all_reduce=None,
                 mixed_precision=None, device_mesh=None):
        super().__init__()
        if mixed_precision is not None or device_mesh is not None:
            raise NotImplementedError("DistributedDataParallel: mixed_precision and device_mesh "
                                      "are not implemented in cltorch")
        group = _resolve(process_group)
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        self.module, self.process_group, self.dim = module, group, dim
        self.device_ids = None if device_ids is None else [as_device(device_ids[0])]
        self.output_device = output_device
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self._params = params
        cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * (1 << 20))
        self._bucket_params = _buckets(params, cap)
        self._bucket_of = {id(p): b for b, bucket in enumerate(self._bucket_params)
                           for p in bucket}
        self._verify_same_model()
        self._sync_states()
        self._unused, self._unfinished, self._round, self._flat = set(), False, None, {}
        # seconds this replica spent staging gradients and waiting for their all-reduces (the
        # benchmark's communication share: cltorch bench --scaling)
        self.comm_seconds = 0.0
        for p in params:
            p.register_post_accumulate_grad_hook(self._ready)

    # ---- construction -----------------------------------------------------------------------
    def _verify_same_model(self) -> None:
        mine = [tuple(p.shape) for p in self._params]
        shapes = []
        collectives.all_gather_object(shapes, mine, self.process_group)
        for r, theirs in enumerate(shapes):
            if theirs != shapes[0]:
                raise RuntimeError(f"DDP expects same model across all ranks, but Rank "
                                   f"{self.process_group.ranks[r]} has {len(theirs)} params "
                                   f"of shapes {theirs}, while rank "
                                   f"{self.process_group.ranks[0]} has {shapes[0]}.")

    def _sync_states(self) -> None:
        """Every rank's parameters and buffers made the first rank's."""
        group = self.process_group
        if group.size() > 1:
            for t in list(self.module.parameters()) + list(self.module.buffers()):
                collectives.broadcast(t, group.ranks[0], group)

    # ---- forward ----------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self._unfinished:
            raise RuntimeError(UNFINISHED)
        if self.broadcast_buffers and self.process_group.size() > 1:
            for b in self.module.buffers():
                collectives.broadcast(b, self.process_group.ranks[0], self.process_group)
        if self.device_ids:
            inputs, kwargs = _moved((inputs, kwargs), self.device_ids[0])
        out = self.module(*inputs, **kwargs)
        if self.find_unused_parameters and is_grad_enabled() and \
                self.require_backward_grad_sync:
            used = _reachable_leaves(out)
            self._unused = {id(p) for p in self._params if id(p) not in used}
        return out

    @contextmanager
    def no_sync(self):
        """Backwards inside accumulate gradients locally, with no communication."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # ---- backward ---------------------------------------------------------------------------
    def _ready(self, param) -> None:
        """A parameter's gradient is accumulated: start the buckets now complete, in order."""
        if not self.require_backward_grad_sync or self.process_group.size() == 1:
            return  # (the average over one rank is its own gradient)
        if self._round is None:
            self._start_round()
        state = self._round
        if id(param) in state["ready"]:
            return
        state["ready"].add(id(param))
        state["waiting"][self._bucket_of[id(param)]] -= 1
        self._launch_complete(state)

    def _start_round(self) -> None:
        self._round = state = {"ready": set(), "next": 0, "works": [],
                               "waiting": [len(b) for b in self._bucket_params]}
        engine.queue_callback(self._finish_round)
        for p in self._params:  # unused in this forward: ready at once, contributing zeros
            if id(p) in self._unused:
                state["ready"].add(id(p))
                state["waiting"][self._bucket_of[id(p)]] -= 1

    def _launch_complete(self, state) -> None:
        if state["next"] < len(self._bucket_params) and not state["waiting"][state["next"]]:
            # staging reads the gradients back, which waits for the device's queue: that
            # wait is backward's compute, not communication (comm_seconds leaves it out)
            self._bucket_params[state["next"]][0]._storage.device.synchronize()
        start = time.perf_counter()
        while state["next"] < len(self._bucket_params) and not state["waiting"][state["next"]]:
            state["works"].append(self._all_reduce(self._bucket_params[state["next"]]))
            state["next"] += 1
        for work in state["works"]:  # MPI progresses the started ones while we are here
            work.is_completed()
        self.comm_seconds += time.perf_counter() - start

    def _all_reduce(self, bucket):
        """Start averaging ``bucket``'s gradients over the ranks: a Work whose completion
        writes the averages back into each ``.grad``. The bucket's host buffer is made once
        and reused every step."""
        group = self.process_group
        flat = self._flat.get(id(bucket))
        if flat is None:
            dtype = np.float32 if bucket[0].dtype.name in ("float16", "bfloat16") else \
                bucket[0].dtype.numpy
            flat = self._flat[id(bucket)] = np.empty(sum(p.numel() for p in bucket), dtype)
        at = 0
        for p in bucket:  # zeros for a parameter without a gradient (unused here)
            n = p.numel()
            if p.grad is None:
                flat[at:at + n] = 0
            else:
                collectives.host(p.grad.contiguous(), out=flat[at:at + n])
            at += n
        used = np.array([p.grad is not None for p in bucket], np.uint8)
        MPI = process_group._mpi()
        requests = [group.comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM)]
        if self.find_unused_parameters:
            requests.append(group.comm.Iallreduce(MPI.IN_PLACE, used, op=MPI.MAX))

        def finish():
            flat[...] *= 1 / group.size()
            at = 0
            for p, anywhere in zip(bucket, used):
                n = p.numel()
                if anywhere:
                    if p.grad is None:
                        p.grad = p.detach().new_zeros(p.shape)
                    collectives.write_back(p.grad, flat[at:at + n])
                at += n
        return collectives.Work(group, "DistributedDataParallel's gradient all_reduce",
                                requests, finish)

    def _finish_round(self) -> None:
        state, self._round = self._round, None
        self._unfinished = state["next"] < len(self._bucket_params)
        start = time.perf_counter()
        for work in state["works"]:
            work.wait()
        self.comm_seconds += time.perf_counter() - start


DDP = DistributedDataParallel


def _resolve(group):
    return process_group.resolve(group)


def _moved(obj, device):
    """``obj`` (nested tuples, lists, dicts) with its tensors moved to ``device``."""
    from ...tensor import Tensor
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple):
        return tuple(_moved(item, device) for item in obj)
    if isinstance(obj, list):
        return [_moved(item, device) for item in obj]
    if isinstance(obj, dict):
        return {key: _moved(value, device) for key, value in obj.items()}
    return obj
