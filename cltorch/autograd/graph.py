"""The recorded graph: a Node per differentiable op, edges to the nodes of its inputs, saved
tensors guarded by version counters, hooks. ``record`` is how every op joins the graph.

Nothing here imports the tensor module: tensors are recognised by their attributes, so that
``tensor.py`` can build on this module.
"""
from __future__ import annotations

import itertools
import weakref

from . import grad_mode

_sequence = itertools.count()

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")


class RemovableHandle:
    """Returned by ``register_hook``-style calls; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.id = next(self._ids)
        self._hooks = weakref.ref(hooks) if hasattr(hooks, "__weakref__") else (lambda: hooks)

    def remove(self):
        hooks = self._hooks()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _Hooks(dict):
    """A dict of hooks in registration order (a subclass so that handles can hold a weakref)."""


def _add_hook(hooks: dict, fn) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


class SavedTensor:
    """A tensor a backward formula needs, with the version it had when saved. An op's own
    output is kept as a detached alias (no reference cycle through grad_fn) and gets its
    grad_fn back when unpacked."""

    __slots__ = ("tensor", "version", "is_output", "node_name")

    def __init__(self, tensor, node, is_output):
        self.is_output = is_output
        self.node_name = node._name
        self.version = tensor._storage.version
        self.tensor = tensor.detach() if is_output else tensor

    def unpack(self, node):
        t = self.tensor
        if t._storage.version != self.version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{t.type()} {list(t.shape)}], which is "
                f"{'output 0' if self.is_output else 'an input'} of {self.node_name}, is at "
                f"version {t._storage.version}; expected version {self.version} instead. Hint: "
                f"the backtrace further above can help find the operation that failed to compute "
                f"its gradient. The variable in question was changed in there or anywhere later. "
                f"Good luck!")
        if self.is_output and node is not None:
            t = t.detach()
            t._requires_grad, t.grad_fn = True, node
        return t


class Node:
    """One recorded op. ``backward(*grad_outputs, *saved)`` returns one gradient (or None) per
    input; ``next_functions`` holds (node, output_nr) per input, as in PyTorch."""

    _materialize = True  # missing output gradients reach backward as zeros, not None

    _direct = None  # the same backward through ops, no graph: used when grad mode is off

    def __init__(self, name, backward, inputs, saved=(), outputs=(), save_outputs=False):
        self._name = name
        self._backward = backward
        self._seq = next(_sequence)
        edges, meta = [], []
        for t in inputs:
            if getattr(t, "requires_grad", False):
                edges.append(gradient_edge(t))
                meta.append((t._shape, t.dtype))
            else:
                edges.append((None, 0))
                meta.append(None)
        self.next_functions = tuple(edges)
        self._input_meta = meta
        self._output_meta = [None if o is None else (o._shape, o.dtype, o._storage.device)
                             for o in outputs]
        self._saved = [SavedTensor(t, self, False) if _is_tensor(t) else t for t in saved]
        if save_outputs:
            self._saved += [SavedTensor(o, self, True) for o in outputs]
        self._had_saved = bool(self._saved)
        self._pre_hooks = self._hooks = self._tensor_pre_hooks = None
        self.metadata = {}
        self._trace = None  # the forward stack, kept in anomaly mode

    def name(self) -> str:
        return self._name

    def __repr__(self):
        return f"<{self._name} object at {hex(id(self))}>"

    def saved_values(self):
        if self._saved is None:
            raise RuntimeError(FREED)
        return [s.unpack(self) if isinstance(s, SavedTensor) else s for s in self._saved]

    def apply(self, grads):
        """Input gradients from output gradients (None entries already materialised)."""
        backward = self._backward
        if self._direct is not None and not grad_mode.is_grad_enabled():
            backward = self._direct
        result = backward(*grads, *self.saved_values())
        return result if isinstance(result, tuple) else (result,)

    def release(self):
        """Free the saved tensors (after a backward without retain_graph)."""
        if self._had_saved:
            self._saved = None

    def register_hook(self, fn) -> RemovableHandle:
        """``fn(grad_inputs, grad_outputs)`` runs after this node; it may return new
        grad_inputs."""
        if self._hooks is None:
            self._hooks = _Hooks()
        return _add_hook(self._hooks, fn)

    def register_prehook(self, fn) -> RemovableHandle:
        """``fn(grad_outputs)`` runs before this node; it may return new grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = _Hooks()
        return _add_hook(self._pre_hooks, fn)

    def _tensor_hooks(self, output_nr) -> dict:
        if self._tensor_pre_hooks is None:
            self._tensor_pre_hooks = {}
        return self._tensor_pre_hooks.setdefault(output_nr, _Hooks())


class AccumulateGrad(Node):
    """The node of a leaf: adds the gradient that reaches it into ``variable.grad``."""

    def __init__(self, variable):
        self._name = "torch::autograd::AccumulateGrad"
        self._seq = next(_sequence)
        self.variable = variable
        self.next_functions = ()
        self._input_meta = []
        self._output_meta = [(variable._shape, variable.dtype, variable._storage.device)]
        self._saved, self._had_saved = [], False
        self._pre_hooks = self._hooks = self._tensor_pre_hooks = None
        self.metadata = {}
        self._trace = None

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _is_tensor(x) -> bool:
    return hasattr(x, "_storage") and hasattr(x, "grad_fn")


def gradient_edge(t):
    """(node, output_nr) through which a gradient reaches tensor ``t``."""
    if t.grad_fn is not None:
        return t.grad_fn, t._output_nr
    accumulator = t._grad_accumulator() if t._grad_accumulator is not None else None
    if accumulator is None:
        accumulator = AccumulateGrad(t)
        t._grad_accumulator = weakref.ref(accumulator)
    return accumulator, 0


def needs_grad(inputs) -> bool:
    """True when grad mode is on and some input requires grad (the per-op check of every
    op: a plain loop, the flag read first)."""
    for t in inputs:
        if getattr(t, "_requires_grad", False):
            return grad_mode.is_grad_enabled()
    return False


def record(outputs, name, inputs, backward, saved=(), save_outputs=False, direct=None):
    """Make ``outputs`` (a tensor or a tuple of them) the results of a new node ``name`` when
    grad mode is on and an input requires grad; return ``outputs``.

    ``backward(*grad_outputs, *saved[, *outputs])`` gives one gradient (or None) per input, in
    Tensor ops, so that it can itself be differentiated. Outputs that are not floating point
    (indices, masks) never require grad. ``direct``, with the same signature, computes the
    same gradients straight from the ops (no graph, no re-checks); a backward that is not
    itself differentiated (grad mode off, the usual case) runs it instead.
    """
    if not needs_grad(inputs):
        return outputs
    many = isinstance(outputs, tuple)
    outs = outputs if many else (outputs,)
    node = Node(name, backward, inputs, saved, outs, save_outputs)
    if direct is not None:
        node._direct = direct
    from .anomaly_mode import is_anomaly_enabled
    if is_anomaly_enabled():
        import traceback
        node._trace = "".join(traceback.format_stack()[:-2])
    for nr, out in enumerate(outs):
        if out is not None and out.dtype.is_floating_point:
            out._requires_grad, out.grad_fn, out._output_nr = True, node, nr
    return outputs
