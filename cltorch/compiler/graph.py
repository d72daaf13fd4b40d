"""One captured region: run it once under a Recorder (backend/capture.py), then replay its
launch list with no per-op Python, no autograd bookkeeping and no allocation but its outputs'.

A replay is exact because of what the capture kept: the tensor inputs are copied into the
same static tensors the capture ran on; every buffer a launch used stays the graph's; the
scalars that must change per call (random counters) are refreshed; optimizer and scheduler
steps run again as host steps; ``.grad`` of the leaves the region wrote and the ``training``
flags of the modules it called end as eager leaves them. ``invalid()`` says why a replay
would not be exact (a parameter replaced, a gradient the region accumulates into dropped...),
and the caller captures again.
"""
from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..backend.capture import ACTIVE, CPU_WORK, HostStep, Launch, Recorder, run_steps
from ..ops.array import cpu_view
from ..tensor import Tensor
from . import backward, fusion, memory
from .structure import flatten, rebuild


class Graph:
    """The steps of one capture and what its replays fill in, check and restore."""

    def __init__(self, recorder: Recorder, statics: dict, outputs: list, out_spec,
                 mutated: list, backward=None):
        self.steps = recorder.steps
        self.backward = backward        # backward.Recorded: the outputs' backward, captured
        self.statics = statics          # leaf index -> the static tensor the capture ran on
        self.mutated = mutated          # leaf indices of inputs the region writes into
        self.outputs, self.out_spec = outputs, out_spec
        self.checked = list(recorder.checked.items())
        self.entry_grads = [(leaf, entry) for leaf, consulted, entry in recorder.grads.values()
                            if consulted]
        self.exit_grads = [(leaf, leaf._grad) for leaf, _, _ in recorder.grads.values()]
        self.modules = []               # (module, training at entry, at exit, tensors)
        for module, training in recorder.modules.values():
            tensors = [(table, name, t._storage if t is not None else None,
                        t is not None and t._requires_grad)
                       for table in (module._parameters, module._buffers)
                       for name, t in table.items()]
            self.modules.append((module, training, module.training, tensors))
        held = self._held_from_outside(recorder)
        self.steps, constants = fusion.fold_constants(self.steps, held, recorder.constants)
        held |= constants  # their buffers keep what the capture computed
        self.steps = fusion.fuse(self.steps, held)
        self.saved_bytes = memory.plan(self.steps, {b: n for b, (_, n) in
                                                    recorder.storages.items()}, held)
        self.launches = sum(type(step) is Launch for step in self.steps)
        self._slots()
        for step in self.steps:
            if type(step) is Launch:
                step.prepared = step.device.prepare(step.kernel, step.n_items, step.args,
                                                    step.local)
        if backward is not None:  # the backward's launches after the split: run apart
            split = self.steps.index(backward.split)
            self.steps, backward.steps = self.steps[:split], self.steps[split + 1:]
            backward.bind(self, self._places)

    def _held_from_outside(self, recorder) -> set:
        """Ids of the buffers that tensors outside the graph's intermediates hold: made before
        the capture, or an output, a static input, a gradient, or any other tensor made
        inside that Python still holds; and buffers filled from the host inside."""
        held = {id(a) for step in self.steps if type(step) is Launch for a in step.buffers()
                if id(a) not in recorder.created}
        tensors = [value for kind, value in self.outputs if kind in ("fresh", "same")]
        tensors += list(self.statics.values())
        tensors += [grad for _, grad in self.exit_grads + self.entry_grads]
        tensors += [grad for step in self.steps if type(step) is HostStep
                    for _, grad in step.grads]
        if self.backward is not None:
            tensors += self.backward.grad_outputs + self.backward.grads
        held |= {id(t._storage.buffer) for t in tensors if t is not None}
        return held | recorder.alive() | recorder.constants  # a constant's bytes: the capture's

    def invalid(self):
        """Why replaying would not do what eager mode does now, or None."""
        for module, training, _, tensors in self.modules:
            if module.training != training:
                return f"{type(module).__name__}.training changed to {module.training}"
            for table, name, storage, requires_grad in tensors:
                t = table.get(name)
                if (t._storage if t is not None else None) is not storage:
                    return f"{type(module).__name__}.{name} was replaced"
                if t is not None and t._requires_grad != requires_grad:
                    return f"{type(module).__name__}.{name}.requires_grad changed"
        for leaf, _ in self.exit_grads:
            if not leaf._requires_grad:
                return "a tensor whose .grad the region writes stopped requiring grad"
        for leaf, entry in self.entry_grads:
            grad = leaf._grad
            if (grad is None) != (entry is None) or (
                    grad is not None and grad._storage is not entry._storage):
                return "a .grad the region reads was replaced or set to None"
        for device, slot in self.checked:
            if device.errors.buffer is not slot:
                return "a device-side check failed since the capture (its error slot is new)"
        if self.backward is not None:
            return self.backward.invalid()
        return None

    def _slots(self):
        """Where each device input's static buffer and each fresh output's buffer sit in the
        launches' arguments: a replay puts the caller's tensor there instead of copying it,
        and a new buffer for each output instead of cloning it."""
        places = self._places = {}
        for step in self.steps:
            if type(step) is Launch:
                for k, a in enumerate(step.args):
                    places.setdefault(id(a), []).append((step, k))
        self.inputs = {i: places.get(id(s._storage.buffer), []) for i, s in self.statics.items()
                       if not s.is_cpu}
        held = {id(g._storage.buffer) for _, g in self.exit_grads if g is not None}
        held |= {id(g._storage.buffer) for step in self.steps if type(step) is HostStep
                 for _, g in step.grads if g is not None}
        held |= {id(t._storage.buffer) for t in self.statics.values()}
        self.buffers = set(places)
        self.fresh = []  # (output position, its tensor, the launch slots of its buffer)
        for position, (kind, value) in enumerate(self.outputs):
            buffer = value._storage.buffer if kind == "fresh" else None
            if buffer is not None and id(buffer) not in held:
                self.fresh.append((position, value, places.get(id(buffer), [])))

    def busy(self) -> bool:
        """Whether a replay's backward is still to come (a call now must run eagerly)."""
        return self.backward is not None and self.backward.busy()

    def replay(self, leaves: list):
        """Run the steps on ``leaves`` (the call's flattened arguments); the outputs."""
        if self.backward is not None:
            return self.backward.call(self, leaves, first=False)
        return self.run(leaves)

    def run(self, leaves: list, flat=False):
        """The replay itself: its outputs' structure, or with ``flat`` their list."""
        copied = self._bind_inputs(leaves)
        made = self._bind_outputs()
        run_steps(self.steps)
        for device, _ in self.checked:
            device.errors.launched()
        return self.finish(leaves, copied, made, flat)

    def _bind_inputs(self, leaves: list) -> list:
        """Point the launches at each caller's tensor laid out as its static one (no copy);
        copy the others in. The indices of the copied ones."""
        copied = []
        for index, static in self.statics.items():
            given = leaves[index]
            slots = self.inputs.get(index)
            direct = slots is not None and given._offset == 0 and \
                given._strides == static._strides and id(given._storage.buffer) not in \
                self.buffers
            buffer = (given if direct else static)._storage.buffer
            for step, k in slots or ():
                step.put(k, buffer)
            if not direct:
                with no_grad():
                    static.copy_(given)
                copied.append(index)
        return copied

    def _bind_outputs(self) -> dict:
        """A new buffer for each fresh output, put where the launches write it."""
        return {position: memory.fresh_on(value, slots)
                for position, value, slots in self.fresh}

    def finish(self, leaves: list, copied: list, made: dict, flat=False):
        """Leave gradients, module flags and mutated inputs as eager mode does; the outputs
        (fresh tensors: the graph's own buffers are written again by the next replay)."""
        for leaf, grad in self.exit_grads:
            leaf._grad = grad
        for module, _, training, _ in self.modules:
            module.training = training
        with no_grad():
            for index in self.mutated:
                if index in copied:
                    leaves[index].copy_(self.statics[index])
            values = []
            for position, (kind, value) in enumerate(self.outputs):
                if position in made:
                    value = made[position]
                elif kind == "fresh":
                    value = value.clone()
                elif kind == "input":
                    value = leaves[value]
                elif kind == "view":
                    value = _view_of(leaves, copied, *value)
                values.append(value)
        return values if flat else rebuild(self.out_spec, values)


def _view_of(leaves: list, copied: list, index: int, view: Tensor) -> Tensor:
    """The output ``view`` of static input ``index``, on the caller's tensor where the launches
    ran on it, else a copy of the values."""
    if index in copied:
        return view.clone()
    given = leaves[index]
    return type(view)._make(given._storage, view._shape, view._strides, view._offset,
                            view.dtype)


def capture(fn, args_spec, leaves: list, strict: bool):
    """Run ``fn`` on static copies of the tensor ``leaves`` while recording: (result, Graph
    or None, why it could not be captured)."""
    statics, anchors = {}, {}
    with no_grad():
        for index, leaf in enumerate(leaves):
            if isinstance(leaf, Tensor):
                statics[index] = leaf.detach().clone()
    for index, leaf in enumerate(leaves):
        if isinstance(leaf, Tensor) and leaf.requires_grad:
            # the region's autograd graph ends at a leaf standing for the caller's input: the
            # outputs' backward (backward.py) hands its gradient on to the caller's tensor
            anchor = statics[index].requires_grad_()
            anchors[id(anchor)] = index
            statics[index] = anchor.clone()  # not a leaf: in-place ops work as on the input
    recorder = Recorder([cpu_view(s) for s in statics.values() if s.is_cpu])
    recorder.strict = strict
    versions = {index: s._storage.version for index, s in statics.items()}
    args, kwargs = rebuild(args_spec, [statics.get(i, leaf) for i, leaf in enumerate(leaves)])
    ACTIVE[0] = recorder
    try:
        result = fn(*args, **kwargs)
    finally:
        ACTIVE[0] = None
    mutated = [i for i, s in statics.items() if s._storage.version != versions[i]]
    out_leaves = []
    out_spec = flatten(result, out_leaves)
    by_static = {id(s): i for i, s in statics.items()}
    by_storage = {id(s._storage): i for i, s in statics.items()}
    outputs = []
    for value in out_leaves:
        if not isinstance(value, Tensor):
            outputs.append(("value", value))
        elif id(value) in by_static:
            outputs.append(("input", by_static[id(value)]))
        elif id(value._storage) in by_storage:  # a view of an input
            outputs.append(("view", (by_storage[id(value._storage)], value)))
        elif id(value._storage) in recorder.created:
            outputs.append(("fresh", value))
        else:
            outputs.append(("same", value))
    if anchors and recorder.why_stopped is None:
        anchored = set(anchors.values())
        _check_anchored(recorder, outputs, anchored & set(mutated), anchored)
    recorded = None
    if recorder.why_stopped is None and backward.needed(outputs, recorder):
        recorded = backward.record(recorder, outputs, statics, anchors)
    if recorder.why_stopped is None:
        graph = Graph(recorder, statics, outputs, out_spec, mutated, recorded)
        if recorded is not None:
            return recorded.call(graph, leaves, first=True), graph, None
        return graph.finish(leaves, list(statics), {}), graph, None
    why = recorder.why_stopped
    if why == CPU_WORK and any(type(step) is Launch for step in recorder.steps):
        why = ("NumPy computed a cpu tensor inside a region that also launches device "
               "kernels (keep the region's tensors on the device)")
    for index in mutated:  # eager results, on the caller's tensors
        with no_grad():
            leaves[index].copy_(statics[index])
    values = [leaves[v] if kind == "input" else v[1].clone() if kind == "view" else v
              for kind, v in outputs]
    if anchors:  # gradients reaching the stand-ins go on to the caller's tensors
        values = backward.relay(values, anchors, leaves)
    return rebuild(out_spec, values), None, why


def _check_anchored(recorder, outputs: list, mutated: set, anchored: set) -> None:
    """Stop a capture whose inputs require grad (``anchored``: their indices) where a replay
    could not keep eager's autograd: a backward run inside (it would reach the caller's
    graph), such an input written in place (``mutated``), an output viewing one (a replay's
    view has no history). The warm-up call looks for the first two already."""
    if recorder.backward_ran:
        recorder.stop("a tensor input requires grad and the region runs a backward")
    elif mutated:
        recorder.stop("a tensor input that requires grad is written in place")
    elif any(kind == "view" and value[0] in anchored for kind, value in outputs):
        recorder.stop("an output is a view of a tensor input that requires grad")
