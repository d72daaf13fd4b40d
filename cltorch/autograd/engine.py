"""The backward engine: from root gradients, run the recorded nodes in dependency order (each
after every node that feeds it), sum gradients per node output, and hand the results to leaves
(``backward``) or return them (``grad``)."""
from __future__ import annotations

import heapq
import threading

from . import grad_mode
from .anomaly_mode import check_nan, is_anomaly_enabled
from ..backend.capture import ACTIVE as _CAPTURING
from .graph import AccumulateGrad, gradient_edge


HOOKS = "a gradient hook (register_hook, retain_grad, a module's backward hook) runs Python"


def _tensors(x):
    if x is None:
        return ()
    return (x,) if hasattr(x, "_storage") else tuple(x)


def _root_grads(outputs, grad_outputs):
    grads = list(_tensors(grad_outputs)) if grad_outputs is not None else [None] * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad_tensors should have the same length as tensors, but got "
                           f"{len(grads)} and {len(outputs)}")
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               f"have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            grads[i] = out.new_ones(out._shape)
        elif tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{g.shape} and output[{i}] has a shape of {out.shape}.")
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into the ``.grad`` of the leaves (or only of
    ``inputs``)."""
    tensors = _tensors(tensors)
    targets = _tensors(inputs) or None
    if targets is not None:
        for t in targets:
            if not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
    found = run(tensors, _root_grads(tensors, grad_tensors), create_graph if retain_graph is None
                else retain_graph, create_graph, targets, accumulate=True)
    for t, g in zip(targets or (), found):  # non-leaf inputs get their gradient too
        if t.grad_fn is not None and g is not None:
            t.grad = g.detach() if t.grad is None else t.grad + g.detach()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs), weighted by ``grad_outputs``, returned as a tuple (nothing is
    accumulated into ``.grad``; ``only_inputs`` is PyTorch's deprecated, ignored flag)."""
    outputs, inputs = _tensors(outputs), _tensors(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    found = run(outputs, _root_grads(outputs, grad_outputs), create_graph if retain_graph is None
                else retain_graph, create_graph, inputs, accumulate=False)
    result = []
    for t, g in zip(inputs, found):
        if g is None and not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                               "in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
        if g is None and materialize_grads:
            g = t.new_zeros(t._shape)
        result.append(g)
    return tuple(result)


RUNS = [0]  # backward passes run in this process (cltorch.compile's warm-up looks for one)
_CALLBACKS = threading.local()  # .runs: per backward running in this thread, its callbacks


def queue_callback(callback) -> None:
    """Run ``callback()`` when the backward now running (in this thread) ends, after every
    gradient is accumulated: PyTorch's ``Variable._execution_engine.queue_callback``
    (DistributedDataParallel waits for its all-reduces there)."""
    runs = getattr(_CALLBACKS, "runs", None)
    if not runs:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    runs[-1].append(callback)


def run(outputs, root_grads, keep_graph, create_graph, inputs, accumulate):
    """Run the graph below ``outputs``. With ``accumulate``, leaves (all, or those in
    ``inputs``) get ``.grad``; otherwise the gradients of ``inputs`` are returned."""
    RUNS[0] += 1
    if _CAPTURING[0] is not None:
        _CAPTURING[0].backward_ran = True
    runs = getattr(_CALLBACKS, "runs", None)
    if runs is None:
        runs = _CALLBACKS.runs = []
    runs.append([])
    try:
        with grad_mode.set_grad_enabled(create_graph):
            found = _Run(outputs, root_grads, keep_graph, create_graph, inputs,
                         accumulate).go()
        callbacks = runs[-1]
        while callbacks:  # a callback may queue another
            callbacks.pop(0)()
    finally:
        runs.pop()
    return found


class _Run:
    def __init__(self, outputs, root_grads, keep_graph, create_graph, inputs, accumulate):
        self.keep_graph, self.create_graph, self.accumulate = keep_graph, create_graph, accumulate
        self.roots = [(gradient_edge(t), g) for t, g in zip(outputs, root_grads)]
        self.targets = {}  # (node, nr) -> positions in inputs
        for i, t in enumerate(inputs or ()):
            self.targets.setdefault(gradient_edge(t), []).append(i)
        self.found = [None] * len(inputs or ())
        self.leaves = None if inputs is None else {id(t) for t in inputs}
        self.user_grads = {id(g) for g in root_grads}
        self.token = object()  # marks the sums this run owns while they sit in a buffer
        # a tensor held here, whose new_zeros makes the zeros of materialised gradients
        self.like = root_grads[0] if root_grads else None
        # id -> gradient given to a leaf; held, so that no later tensor can reuse its id (a
        # reused id made an unrelated gradient look shared, and cost a copy)
        self.stolen = {}

    def go(self):
        dependencies = self._dependencies()
        needed = self._needed() if self.targets and not self.accumulate else None
        buffers = {}
        for (node, nr), g in self.roots:
            self._add(buffers, node, nr, g)
        ready = [(-node._seq, id(node), node) for node in buffers if not dependencies.get(node)]
        heapq.heapify(ready)
        while ready:
            node = heapq.heappop(ready)[2]
            grads = buffers.pop(node)
            for g in grads:  # out of the buffer, a sum may be shared: no more in-place adds
                if getattr(g, "_summed_by", None) is not None:
                    g._summed_by = None
            grads = self._pre_hooks(node, grads)
            for nr, g in enumerate(grads):
                for i in self.targets.get((node, nr), ()):
                    self.found[i] = g
            if isinstance(node, AccumulateGrad):
                if self.accumulate and grads[0] is not None:
                    self._accumulate(node.variable, grads[0])
                continue
            if needed is not None and node not in needed:
                continue
            for (nxt, nr), g in zip(node.next_functions, self._call(node, grads)):
                if nxt is None:
                    continue
                if g is not None:
                    self._add(buffers, nxt, nr, g)
                dependencies[nxt] -= 1
                if dependencies[nxt] == 0 and nxt in buffers:
                    heapq.heappush(ready, (-nxt._seq, id(nxt), nxt))
                elif dependencies[nxt] == 0:
                    self._skip(nxt, dependencies, buffers, ready)
        return self.found

    def _skip(self, node, dependencies, buffers, ready):
        """A node all of whose gradients were None: release what it feeds (a loop, not
        recursion, so that long graphs do not exhaust the stack)."""
        stack = [node]
        while stack:
            for nxt, _ in stack.pop().next_functions:
                if nxt is None:
                    continue
                dependencies[nxt] -= 1
                if dependencies[nxt] == 0:
                    if nxt in buffers:
                        heapq.heappush(ready, (-nxt._seq, id(nxt), nxt))
                    else:
                        stack.append(nxt)

    def _dependencies(self) -> dict:
        counts, seen = {}, set()
        stack = [node for (node, _), _ in self.roots]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for nxt, _ in node.next_functions:
                if nxt is not None:
                    counts[nxt] = counts.get(nxt, 0) + 1
                    stack.append(nxt)
        return counts

    def _needed(self) -> set:
        """Nodes on some path from the roots to a requested input: a post-order walk (every
        node after the nodes it feeds), then one pass marking the nodes that reach one."""
        wanted = {node for node, _ in self.targets}
        order, seen = [], set()
        stack = [(node, False) for (node, _), _ in self.roots]
        while stack:
            node, finished = stack.pop()
            if finished:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((nxt, False) for nxt, _ in node.next_functions
                             if nxt is not None and nxt not in seen)
        needed = set()
        for node in order:
            if node in wanted or any(nxt in needed for nxt, _ in node.next_functions):
                needed.add(node)
        return needed

    def _add(self, buffers, node, nr, g):
        """Sum ``g`` into the node's input buffer. The first sum is a new tensor that only the
        buffer holds, so later ones add into it in place (as PyTorch's input buffer does);
        with create_graph the sums are graph ops and stay out of place."""
        slots = buffers.get(node)
        if slots is None:
            slots = buffers[node] = [None] * len(node._output_meta)
        held = slots[nr]
        if held is None:
            slots[nr] = g
        elif getattr(held, "_summed_by", None) is self.token:
            held.add_(g)
        else:
            slots[nr] = held + g
            if not self.create_graph:
                slots[nr]._summed_by = self.token

    def _pre_hooks(self, node, grads):
        if _CAPTURING[0] is not None and (node._tensor_pre_hooks or node._pre_hooks or
                                          node._hooks):
            _CAPTURING[0].stop(HOOKS)
        if node._tensor_pre_hooks:
            for nr, hooks in node._tensor_pre_hooks.items():
                # retain_grad's hook (key -1) sees the gradient after every user hook
                for hook in [h for k, h in hooks.items() if k != -1] + (
                        [hooks[-1]] if -1 in hooks else []):
                    if grads[nr] is not None:
                        new = hook(grads[nr])
                        grads[nr] = grads[nr] if new is None else new
        if node._pre_hooks:
            for hook in list(node._pre_hooks.values()):
                new = hook(tuple(grads))
                grads = grads if new is None else list(new)
        return grads

    def _call(self, node, grads):
        if node._materialize:
            grads = [g if g is not None or meta is None else
                     self.like.new_zeros(meta[0], dtype=meta[1], device=meta[2])
                     for g, meta in zip(grads, node._output_meta)]
        results = list(node.apply(grads))
        if node._hooks:
            for hook in list(node._hooks.values()):
                new = hook(tuple(results), tuple(grads))
                results = results if new is None else list(new)
        if not self.keep_graph:
            node.release()
        if len(results) != len(node.next_functions):
            raise RuntimeError(f"function {node.name()} returned an incorrect number of "
                               f"gradients (expected {len(node.next_functions)}, got "
                               f"{len(results)})")
        results = [_conform(g, meta) for g, meta in zip(results, node._input_meta)]
        if is_anomaly_enabled():
            check_nan(node, results)
        return results

    def _accumulate(self, leaf, g):
        if self.leaves is not None and id(leaf) not in self.leaves:
            return
        if _CAPTURING[0] is not None and (leaf._backward_hooks or leaf._post_accumulate_hooks):
            _CAPTURING[0].stop(HOOKS)
        for hook in list(leaf._backward_hooks.values()) if leaf._backward_hooks else ():
            new = hook(g)
            g = g if new is None else new
        if _CAPTURING[0] is not None:  # this branch reads .grad: a replay checks it first
            _CAPTURING[0].note_grad(leaf, consulted=True)
        self._store(leaf, g)
        for hook in list(leaf._post_accumulate_hooks.values()) \
                if leaf._post_accumulate_hooks else ():
            hook(leaf)

    def _store(self, leaf, g):
        if leaf.grad is not None:
            if self.create_graph or leaf.grad.requires_grad:
                leaf.grad = leaf.grad + g  # part of a graph: replaced, not updated in place
            else:
                leaf.grad.add_(g.detach())
            return
        # keep the gradient tensor itself unless someone else may hold it: a user gradient, a
        # view, or a tensor already given to another leaf
        shared = id(g) in self.user_grads or id(g) in self.stolen or g._base is not None
        self.stolen[id(g)] = g
        if not self.create_graph:
            g = g.detach().clone() if shared else g.detach()
        leaf.grad = g


def _conform(g, meta):
    """Sum a broadcast gradient back to the input's shape and cast it to its dtype."""
    if g is None or meta is None:
        return None
    shape, dtype = meta
    if g._shape != shape:
        g = sum_to(g, shape)
    if g.dtype is not dtype:
        g = g.to(dtype)
    return g


def sum_to(g, shape):
    """Sum ``g`` over the dims that broadcasting added to ``shape``."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead < 0:
        raise RuntimeError(f"grad of shape {list(g.shape)} cannot be summed to {list(shape)}")
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and g._shape[lead + i] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)
    if lead:
        g = g.reshape(shape)
    if g._shape != shape:
        raise RuntimeError(f"grad of shape {list(g.shape)} does not match the input's shape "
                           f"{list(shape)}")
    return g


def zero_grads(params, set_to_none=True) -> None:
    """Reset the ``.grad`` of ``params``: to None, or to zeros in place (detached first)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad = p.grad.detach()
            p.grad.zero_()
