"""Fusion of a captured launch list. First, constants (``fold_constants``): pointwise launches
whose results are the same at every replay are dropped, their buffers keeping what the capture
computed. Then a pointwise launch whose result only one later pointwise
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

Then GEMM epilogues: a chain that reads a GEMM's product (element for element, in the compute
type the product is stored in) becomes the GEMM's epilogue (``kernels_cl/_epilogue.mako``):
the chain runs where each element of the product is computed, and the product is never
stored. What makes it safe: the product is the graph's own and no later step reads it (or the
chain writes its result in the product's place); the GEMM does not read what the chain
writes; no step between them writes what the chain reads or uses what it writes (the chain's
work moves up to the GEMM's place).

Last, reduction prologues: a chain of contiguous operands whose result only a reduction reads
runs where the reduction reads each element (``kernels_cl/reduce.mako``), the result never
stored; no step between them may write what the chain reads (its work moves down to the
reduction's place).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..backend.capture import Launch, Upload, Writes
from ..ops import fused
from ..ops.gemm import GemmForm
from ..ops.pointwise import Form
from ..ops.reduce import ReduceForm

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
        if not all(entry[3] == 0 and entry[0] == "c" for entry in consumer.inputs
                   if entry[0] != "v" and entry[2] is buffer):
            return False
        # the merged kernel reads what the producer read while it writes the consumer's
        # output: where that is one buffer, each element must be read where it is written
        _, target, at, _ = consumer.out
        in_place = consumer.out_kind == "c" or not consumer.ndim
        return all(in_place and entry[0] == "c" and entry[3] == at
                   for entry in self.inputs if entry[0] != "v" and entry[2] is target)

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

    def epilogue(self, product=None) -> tuple:
        """(ops/fused.Epilogue, its arguments: _epilogue.mako's parameters); the inputs in
        buffer ``product`` (a GEMM's result) become the source ("acc", 0)."""
        ndim = self.ndim
        dtype, buffer, offset, out_strides = self.out
        out_kind = self.out_kind if ndim else "c"
        args = [buffer, offset, *(out_strides if out_kind == "s" else ())]
        inputs, remap, seen = [], {}, {}
        for k, entry in enumerate(self.inputs):
            if entry[0] != "v" and entry[2] is product:
                remap[k] = ("acc", 0)
                continue
            if entry[0] == "v":
                remap[k] = ("in", len(inputs))
                inputs.append(("v", self.compute))
                args.append(entry[2])
                continue
            kind = entry[0] if ndim else "c"
            # an operand read at several stages (x in x * y + x) is loaded once
            same = (kind, entry[1], id(entry[2]), entry[3], entry[4] if kind == "s" else ())
            if same not in seen:
                seen[same] = ("in", len(inputs))
                inputs.append((kind, entry[1]))
                args += [entry[2], entry[3], *(entry[4] if kind == "s" else ())]
            remap[k] = seen[same]
        args += self.sizes if ndim else ()
        stages = tuple((expr, tuple(remap[k] if where == "in" else (where, k)
                                    for where, k in sources)) for expr, sources in self.stages)
        return fused.Epilogue(self.compute, dtype, tuple(inputs), stages, out_kind, ndim), args

    def launch(self) -> Launch:
        """The fused launch (fused.mako's kernel)."""
        ep, args = self.epilogue()
        kernel = fused.kernel(self.device, ep, self.form.index, self.form.index_np)
        return Launch(self.device, kernel, self.n, [self.n] + args, None)


def fold_constants(steps: list, protected: set, filled: set) -> tuple:
    """(steps without the pointwise launches whose results are the same at every replay, the
    ids of the buffers holding those results). A result is constant where its launch reads
    scalars and constants only (a causal mask built from an index range, the ones a backward
    starts from) and nothing else ever writes its buffer: the capture computed it, and the
    buffer keeps it. ``protected``: buffers held from outside (never folded); ``filled``:
    buffers the host filled inside the region (constants where no launch writes them)."""
    writers = defaultdict(int)
    for step in steps:
        for b in _written(step):
            writers[b] += 1
    constant, kept = {b for b in filled if not writers[b]}, []
    for step in steps:
        if type(step) is Launch and type(step.form) is Form and step.refresh is None:
            out = id(step.args[0])
            reads = {id(b) for b in step.buffers()[1:]}
            if out not in protected and writers[out] == 1 and reads <= constant:
                constant.add(out)
                continue
        kept.append(step)
    return kept, constant


def _written(step) -> set:
    """Ids of the buffers a step may write (a launch of unknown form: all it passes)."""
    if type(step) is Upload:
        return {id(step.buffer)}
    if type(step) is not Launch:
        return set()  # a host step: Python's own tensors, all protected
    if type(step.form) in (Form, GemmForm):
        return {id(step.args[0])}
    if type(step.form) is ReduceForm:
        return {id(b) for b in step.args[:step.form.input]}
    if type(step.form) is Writes:
        return {id(b) for b in step.form.buffers}
    return {id(b) for b in step.buffers()}


def buffers_of(step) -> set:
    """Ids of the device buffers a launch passes (all of a step's that are not launches:
    None, read as "may touch anything")."""
    return {id(a) for a in step.buffers()} if type(step) is Launch else None


def fuse(steps: list, protected: set) -> list:
    """``steps`` with fusable pointwise chains merged; ``protected``: ids of buffers that
    tensors outside the graph's own intermediates hold (never an intermediate to drop)."""
    steps = list(steps)
    chains = {i: Chain(s) for i, s in enumerate(steps) if type(s) is Launch and
              type(s.form) is Form and s.refresh is None}
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
    _epilogues(steps, chains, touched, users, protected)
    _prologues(steps, chains, touched, users, protected)
    for j, chain in chains.items():
        if len(chain.stages) > 1:
            steps[j] = chain.launch()
    return [s for s in steps if s is not None]


def _epilogues(steps, chains, touched, users, protected) -> None:
    """Make each pointwise chain that alone reads a GEMM's product that GEMM's epilogue
    (ops/gemm.GemmForm): the chain runs where the product is computed, at the GEMM's place."""
    for i, step in enumerate(steps):
        if type(step) is not Launch or type(step.form) is not GemmForm or step.refresh:
            continue
        form, c = step.form, id(step.args[0])
        later = sorted(k for k in users[c] if k > i)
        chain = chains.get(later[0]) if later else None
        if chain is None or not _takes_product(form, chain, c, step.device):
            continue
        j, out = later[0], id(chain.out[1])
        if out != c and (c in protected or len(later) > 1):
            continue  # the product itself is read again
        if out in touched[i] - {c}:
            continue  # the GEMM reads what the chain writes
        if form.keeps_c and out == c and (chain.out[2] or chain.ndim and
                                          chain.out_kind == "s"):
            continue  # it would write C elsewhere than where it reads C back (can_feed's rule)
        if not _quiet_between(steps, chains, touched, i, j, chain.reads() | {out}, out):
            continue  # a step between writes what the chain reads, or uses its output
        ep, args = chain.epilogue(step.args[0])
        kernel = form.rebuild(ep._replace(groups=_groups(chain.sizes, form.dims)))
        if kernel is None:
            continue
        first = step.args[0] if form.keeps_c else args[0]  # else the GEMM never writes C
        _replace(steps, chains, touched, users, i, j, Launch(
            step.device, kernel, step.n_items, [first] + step.args[1:] + args, step.local))
        if not form.keeps_c:
            users[c].discard(i)


def _prologues(steps, chains, touched, users, protected) -> None:
    """Make each pointwise chain whose result only a reduction reads that reduction's
    prologue (ops/reduce.ReduceForm): the chain runs where each element is read, at the
    reduction's place, and its result is never stored."""
    for k, step in enumerate(steps):
        if type(step) is not Launch or type(step.form) is not ReduceForm or step.refresh:
            continue
        form, d = step.form, id(step.args[step.form.input])
        j = max((j for j in chains if j < k and id(chains[j].out[1]) == d), default=None)
        if j is None or d in protected or {i for i in users[d] if i > j} != {k}:
            continue
        chain = chains[j]
        if not _feeds_reduction(form, chain, step.device) or \
                not _quiet_between(steps, chains, touched, j, k, chain.reads()):
            continue
        ep, args = chain.epilogue()
        kernel = form.rebuild(ep)
        if kernel is None:
            continue
        read = next((entry[2] for entry in chain.inputs if entry[0] != "v"), None)
        launch_args = list(step.args)
        if read is not None:  # the kernel no longer reads its input: hold no buffer for it
            launch_args[form.input] = read
        _replace(steps, chains, touched, users, k, j, Launch(
            step.device, kernel, step.n_items, launch_args + args[2:], step.local))
        users[d].discard(k)


def _replace(steps, chains, touched, users, i, j, launch) -> None:
    """Step ``i`` becomes ``launch``, which does chain ``j``'s work too (step ``j`` goes)."""
    steps[i], steps[j], touched[j] = launch, None, set()
    del chains[j]
    touched[i] = buffers_of(launch)
    for b in touched[i]:
        users[b].discard(j)
        users[b].add(i)


def _feeds_reduction(form, chain, device) -> bool:
    """Whether ``chain`` can run where a reduction reads its result: element p of its result
    is position p of its (contiguous) output, its inputs are contiguous too, it computes in
    the reduction's type and stores in it, on its device, with indices no wider."""
    dtype, _, offset, _ = chain.out
    return chain.device is device and chain.ndim == 0 and offset == 0 and \
        dtype is chain.compute is form.compute is form.src and \
        np.dtype(chain.form.index_np).itemsize <= np.dtype(form.index_np).itemsize and \
        all(entry[0] in "cv" for entry in chain.inputs)


def _takes_product(form, chain, c, device) -> bool:
    """Whether ``chain`` can take the product in buffer ``c`` from a register: it reads it
    element for element (contiguous, offset 0, over as many elements), computes in its type,
    on its device, with indices no wider than the GEMM's."""
    if chain.device is not device or chain.compute is not form.compute or \
            chain.n != math.prod(form.dims) or \
            np.dtype(chain.form.index_np).itemsize > np.dtype(form.index_np).itemsize:
        return False
    product = [entry for entry in chain.inputs if entry[0] != "v" and id(entry[2]) == c]
    return bool(product) and all(entry[0] == "c" and entry[3] == 0 for entry in product)


def _groups(sizes: tuple, dims: tuple):
    """Which of a GEMM's C dims (0 batch, 1 row, 2 column) each dim of a chain's strided
    layout spans, where the layout merges C's dims in order (a bias over rows, over a
    convolution's channels); else None (the epilogue divides the element's index)."""
    dims = [(d, size) for d, size in enumerate(dims) if size != 1]  # coordinate 0: no part
    groups = []
    for size in sizes:
        group, product = [], 1
        while product < size and dims:
            d, extent = dims.pop(0)
            group.append(d)
            product *= extent
        if product != size:
            return None
        groups.append(tuple(group))
    return tuple(groups) if not dims else None


def _quiet_between(steps, chains, touched, i, j, reads, output=None) -> bool:
    """No step strictly between ``i`` and ``j`` is a host step or upload, or may write a
    buffer in ``reads``, or uses the buffer ``output``."""
    for k in range(i + 1, j):
        if steps[k] is None:
            continue
        if touched[k] is None or output in touched[k]:
            return False
        if k in chains:
            written = chains[k].writes()
        elif type(steps[k].form) is GemmForm:
            written = {id(steps[k].args[0])}  # a GEMM writes its C only
        else:
            written = touched[k]
        if written & reads:
            return False
    return True
