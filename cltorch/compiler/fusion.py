"""Fusion of a captured launch list: a pointwise launch whose result only one later pointwise
launch reads becomes a stage of that launch's kernel (``kernels_cl/fused.mako``), so the
intermediate never makes a trip through memory. Chains fuse whole: the merged launch can
itself be a producer of the next one.

What makes a merge safe: the intermediate's buffer is the graph's own (no output, gradient,
input, parameter or other tensor from outside the region holds it) and no launch after the
producer but the consumer touches it (an earlier one may have written it: a bias added in
place to a product); the producer stores in its compute type, the consumer
computes in the same one (so a register holds exactly what memory held); nothing between them
may write what the producer read (its reading moves to the consumer's place); no host step or
upload lies between them.
"""
from __future__ import annotations

from collections import defaultdict

from ..backend.capture import Launch
from ..ops import fused

MAX_STAGES = 32   # a longer chain starts a new kernel: registers and build time stay bounded
MAX_INPUTS = 24


class Chain:
    """A pointwise launch as stages over inputs (one stage until others merge into it)."""

    __slots__ = ("device", "form", "compute", "out", "out_kind", "ndim", "sizes", "n",
                 "inputs", "stages")

    def __init__(self, launch: Launch):
        form, args = launch.form, launch.args
        self.device, self.form, self.compute, self.ndim = launch.device, form, form.compute, \
            form.ndim
        self.out_kind = form.out_kind
        k = 2 + (form.ndim if form.out_kind == "s" else 0)
        self.out = (form.out, args[0], args[1], tuple(args[2:k]))
        self.inputs = []  # (kind, dtype, buffer, offset, strides) or ("v", dtype, value)
        for kind, dtype in form.operands:
            if kind == "v":
                self.inputs.append(("v", dtype, args[k]))
                k += 1
            else:
                width = form.ndim if kind == "s" else 0
                self.inputs.append((kind, dtype, args[k], args[k + 1],
                                    tuple(args[k + 2:k + 2 + width])))
                k += 2 + width
        self.n, self.sizes = args[k], tuple(args[k + 1:k + 1 + form.ndim])
        self.stages = [(form.expr, tuple(("in", i) for i in range(len(self.inputs))))]

    def writes(self) -> set:
        return {id(self.out[1])}

    def can_feed(self, consumer: "Chain") -> bool:
        """Whether this chain's result can stay in a register for ``consumer``."""
        dtype, _, offset, _ = self.out
        if self.out_kind != "c" or offset != 0 or dtype is not self.compute:
            return False
        if consumer.compute is not self.compute or consumer.device is not self.device or \
                consumer.n != self.n or consumer.form.index != self.form.index:
            return False
        if self.ndim and consumer.ndim and self.sizes != consumer.sizes:
            return False
        if len(self.stages) + len(consumer.stages) > MAX_STAGES or \
                len(self.inputs) + len(consumer.inputs) > MAX_INPUTS:
            return False
        buffer = self.out[1]
        return all(entry[3] == 0 and entry[0] == "c" for entry in consumer.inputs
                   if entry[0] != "v" and entry[2] is buffer)

    def absorb(self, producer: "Chain") -> None:
        """Make ``producer``'s stages this chain's first ones."""
        buffer, last = producer.out[1], len(producer.stages) - 1
        inputs, remap = list(producer.inputs), {}
        for i, entry in enumerate(self.inputs):
            if entry[0] != "v" and entry[2] is buffer:
                remap[i] = ("stage", last)
            else:
                remap[i] = ("in", len(inputs))
                inputs.append(entry)
        shift = len(producer.stages)
        stages = list(producer.stages)
        for expr, sources in self.stages:
            stages.append((expr, tuple(remap[k] if where == "in" else ("stage", k + shift)
                                       for where, k in sources)))
        self.inputs, self.stages = inputs, stages
        if not self.ndim and producer.ndim:
            self.ndim, self.sizes = producer.ndim, producer.sizes

    def reads(self) -> set:
        return {id(entry[2]) for entry in self.inputs if entry[0] != "v"}

    def launch(self) -> Launch:
        """The fused launch (pointwise.mako's argument layout, fused.mako's kernel)."""
        form, ndim = self.form, self.ndim
        dtype, buffer, offset, out_strides = self.out
        out_kind = self.out_kind if ndim else "c"
        args = [buffer, offset, *(out_strides if out_kind == "s" else ())]
        inputs = []
        for entry in self.inputs:
            if entry[0] == "v":
                inputs.append(("v", self.compute))
                args.append(entry[2])
            else:
                kind = entry[0] if ndim else "c"
                inputs.append((kind, entry[1]))
                args += [entry[2], entry[3], *(entry[4] if kind == "s" else ())]
        args += [self.n, *(self.sizes if ndim else ())]
        kernel = fused.kernel(self.device, self.compute, dtype, tuple(inputs),
                              tuple(self.stages), out_kind, ndim, form.index, form.index_np)
        return Launch(self.device, kernel, self.n, args, None)


def buffers_of(step) -> set:
    """Ids of the device buffers a launch passes (all of a step's that are not launches:
    None, read as "may touch anything")."""
    return {id(a) for a in step.buffers()} if type(step) is Launch else None


def fuse(steps: list, protected: set) -> list:
    """``steps`` with fusable pointwise chains merged; ``protected``: ids of buffers that
    tensors outside the graph's own intermediates hold (never an intermediate to drop)."""
    steps = list(steps)
    chains = {i: Chain(s) for i, s in enumerate(steps) if type(s) is Launch and
              s.form is not None and s.refresh is None}
    touched = [buffers_of(s) for s in steps]
    users = defaultdict(set)
    for i, ids in enumerate(touched):
        for b in ids or ():
            users[b].add(i)
    for i in range(len(steps)):
        producer = chains.get(i)
        if producer is None:
            continue
        out = id(producer.out[1])
        later = {k for k in users[out] if k >= i}  # earlier steps cannot read its result
        if out in protected or len(later) != 2:
            continue
        j = max(later)
        consumer = chains.get(j)
        if consumer is None or not producer.can_feed(consumer) or \
                not _quiet_between(steps, chains, touched, i, j, producer.reads()):
            continue
        consumer.absorb(producer)
        steps[i], touched[i] = None, set()
        del chains[i]
        for b in producer.reads():
            users[b].discard(i)
            users[b].add(j)
            touched[j].add(b)
        users[out].discard(i)
    for j, chain in chains.items():
        if len(chain.stages) > 1:
            steps[j] = chain.launch()
    return [s for s in steps if s is not None]


def _quiet_between(steps, chains, touched, i, j, reads) -> bool:
    """No step strictly between ``i`` and ``j`` is a host step or upload, or may write a
    buffer in ``reads``."""
    for k in range(i + 1, j):
        if steps[k] is None:
            continue
        if touched[k] is None:
            return False
        written = chains[k].writes() if k in chains else touched[k]
        if written & reads:
            return False
    return True
