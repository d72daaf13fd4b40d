"""A region whose outputs' backward runs after it (``loss = compiled_model(x); loss.backward()``,
the usual ``torch.compile(model)`` training loop).

The capture records the forward, then the outputs' backward (autograd.grad towards the leaves
the outputs depend on, from static gradient buffers), in one list split in two. A replay runs
the forward inside one autograd node (``_Replay``); when the caller's backward reaches it, the
incoming gradients are copied into the static buffers, the backward's launches run, and the
leaves' gradients come out of the node as any op's do (autograd accumulates them).

The forward's intermediates are the graph's own buffers, so a second forward before the first
one's backward would overwrite what that backward reads: while a replay's backward is pending,
further calls run eagerly (``busy``), and a backward reached after a later replay raises.
"""
from __future__ import annotations

import weakref

from ..autograd import engine, grad_mode
from ..autograd.function import Function
from ..autograd.graph import AccumulateGrad
from ..backend.capture import ACTIVE, HostStep, run_steps
from ..tensor import Tensor
from .memory import fresh_on
from .structure import rebuild


def needed(outputs: list, recorder) -> bool:
    """Whether outputs made inside the region need a backward that runs after it."""
    return grad_mode.is_grad_enabled() and not recorder.backward_ran and any(
        kind == "fresh" and value.requires_grad for kind, value in outputs)


def record(recorder, outputs: list, statics: dict, anchors: dict):
    """Record the backward of the region's differentiable outputs after its forward; the
    Recorded, or None where no leaf needs a gradient. The capture's own autograd graph is
    kept (retain_graph), for the eager result if the capture stops after all. ``anchors``:
    id of the leaf standing for a tensor input that requires grad -> the input's index."""
    positions = [i for i, (kind, value) in enumerate(outputs)
                 if kind == "fresh" and value.requires_grad]
    tensors = [outputs[i][1] for i in positions]
    leaves = _leaves_of(tensors)
    if not leaves:
        return None
    inputs = [anchors.get(id(leaf)) for leaf in leaves]
    grad_outputs = [t.detach().new_zeros(t.shape) for t in tensors]
    split = HostStep(None, [])
    recorder.steps.append(split)
    ACTIVE[0] = recorder
    try:
        grads = engine.grad(tensors, leaves, grad_outputs, retain_graph=True,
                            allow_unused=True)
    finally:
        ACTIVE[0] = None
    return Recorded(split, positions, leaves, inputs, grad_outputs, list(grads))


def relay(values: list, anchors: dict, leaves: list) -> list:
    """A stopped capture's eager results, whose autograd graph ends at the leaves standing
    for the caller's tensor inputs (``anchors``): the differentiable ones come out of one
    node that hands their gradients on to the caller's tensors ``leaves[index]``."""
    positions = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
    if not positions:
        return values
    stand_ins = list(_leaves_of([values[i] for i in positions]))
    relayed = _Relay.apply([values[i] for i in positions], stand_ins,
                           *[leaves[anchors[id(s)]] if id(s) in anchors else s
                             for s in stand_ins])
    values = list(values)
    for i, v in zip(positions, relayed if isinstance(relayed, tuple) else (relayed,)):
        values[i] = v
    return values


class _Relay(Function):
    """Results computed from stand-ins, as outputs of the tensors they stand for."""

    @staticmethod
    def forward(ctx, results, stand_ins, *tensors):
        ctx.results, ctx.stand_ins = results, stand_ins
        return tuple(r.detach() for r in results)

    @staticmethod
    def backward(ctx, *grads):
        return (None, None, *engine.grad(ctx.results, ctx.stand_ins, list(grads),
                                         retain_graph=True, allow_unused=True))


def _leaves_of(tensors: list) -> list:
    """The leaf tensors that require grad below ``tensors`` in autograd's graph, in order."""
    found, seen = [], set()
    stack = [t.grad_fn for t in reversed(tensors) if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            found.append(node.variable)
        else:
            stack.extend(next_node for next_node, _ in reversed(node.next_functions))
    return found


class Recorded:
    """The backward of a graph's differentiable outputs, and the state of its replays."""

    def __init__(self, split, positions, leaves, inputs, grad_outputs, grads):
        self.split, self.steps = split, None
        self.positions = positions        # which of the graph's outputs are differentiable
        self.leaves = leaves              # the tensors whose gradients come out
        self.inputs = inputs              # per leaf: the index of the call's tensor input it
        # stands for (its gradient goes on to the caller's tensor), or None: a parameter
        self.grad_outputs = grad_outputs  # static buffers the incoming gradients go to
        self.grads = grads                # the leaves' gradients, as the capture made them
        self.generation, self.pending, self.graph, self.fresh = 0, None, None, {}

    def bind(self, graph, places: dict) -> None:
        """Where each gradient's buffer sits in the launches: a new one per backward."""
        self.graph = graph
        counts = {}
        for g in self.grads:
            if g is not None:
                counts[id(g._storage.buffer)] = counts.get(id(g._storage.buffer), 0) + 1
        self.fresh = {i: places.get(id(g._storage.buffer), []) for i, g in enumerate(self.grads)
                      if g is not None and counts[id(g._storage.buffer)] == 1}

    def invalid(self):
        if any(not leaf.requires_grad for leaf in self.leaves):
            return "a tensor the outputs' gradient flows to stopped requiring grad"
        return None

    def busy(self) -> bool:
        """Whether a replay's backward is still to come (its intermediates are in use)."""
        ctx = self.pending() if self.pending is not None else None
        return ctx is not None and ctx._node is not None and not ctx.done

    def call(self, graph, leaves: list, first: bool):
        """The forward (the capture's results when ``first``) through one autograd node."""
        values = _Replay.apply(self, graph, leaves, first,
                               *[leaf if at is None else leaves[at]
                                 for leaf, at in zip(self.leaves, self.inputs)])
        return rebuild(graph.out_spec, list(values))

    def run_backward(self, incoming: list) -> list:
        with grad_mode.no_grad():
            for static, g in zip(self.grad_outputs, incoming):
                if g is None:
                    static.zero_()
                else:
                    static.copy_(g)
            made = {i: fresh_on(self.grads[i], slots) for i, slots in self.fresh.items()}
            run_steps(self.steps)
            for device, _ in self.graph.checked:
                device.errors.launched()
            return [None if g is None else made[i] if i in made else g.clone()
                    for i, g in enumerate(self.grads)]


class _Replay(Function):
    """One replay of a graph's forward, as an autograd node over the leaves."""

    @staticmethod
    def forward(ctx, recorded, graph, leaves, first, *params):
        if first:
            values = graph.finish(leaves, list(graph.statics), {}, flat=True)
        else:
            values = graph.run(leaves, flat=True)
        recorded.generation += 1
        ctx.recorded, ctx.generation, ctx.done = recorded, recorded.generation, False
        recorded.pending = weakref.ref(ctx)
        keep = {id(values[i]) for i in recorded.positions}
        ctx.mark_non_differentiable(*[v for v in values
                                      if isinstance(v, Tensor) and id(v) not in keep])
        return tuple(values)

    @staticmethod
    def backward(ctx, *grads):
        recorded = ctx.recorded
        if ctx.generation != recorded.generation:
            raise RuntimeError("cltorch.compile: this backward belongs to an earlier call of "
                               "the compiled region, whose saved intermediates a later call "
                               "has overwritten (call backward before the next call)")
        if grad_mode.is_grad_enabled():
            raise RuntimeError("cltorch.compile: a compiled region's backward cannot be "
                               "differentiated again (create_graph=True); run it uncompiled")
        ctx.done = True
        return (None, None, None, None,
                *recorded.run_backward([grads[i] for i in recorded.positions]))
