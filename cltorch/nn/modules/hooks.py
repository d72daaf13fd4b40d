"""Module hook plumbing: ordered registration, and full backward hooks through identity
nodes around a module's inputs and outputs."""
from __future__ import annotations

from ...autograd.function import Function
from ...autograd.graph import RemovableHandle
from ...tensor import Tensor


def _register(hooks, value, prepend) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    if prepend:  # rebuild the dict with the new hook first
        items = list(hooks.items())
        hooks.clear()
        hooks[handle.id] = value
        hooks.update(items)
    else:
        hooks[handle.id] = value
    return handle


class _Identity(Function):
    """Passes tensors through; its backward reports their gradients to a callback."""

    @staticmethod
    def forward(ctx, callback, *tensors):
        ctx.callback = callback
        return tensors if len(tensors) > 1 else tensors[0]

    @staticmethod
    def backward(ctx, *grads):
        new = ctx.callback(grads)
        return (None,) + tuple(new if new is not None else grads)


class _BackwardHookBridge:
    """Full backward hooks: identity nodes around the module's tensors catch grad_output
    (outputs) and grad_input (inputs), then call the module's hooks."""

    def __init__(self, module):
        self.module, self.grad_outputs, self.n_inputs = module, None, 0

    def wrap_inputs(self, args):
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        self.n_inputs = len(positions)
        if not positions:
            return args
        wrapped = _Identity.apply(self._inputs_done, *[args[i] for i in positions])
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        args = list(args)
        for i, w in zip(positions, wrapped):
            args[i] = w
        return tuple(args)

    def wrap_outputs(self, result):
        outs = result if isinstance(result, tuple) else (result,)
        positions = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions:
            return result
        wrapped = _Identity.apply(self._outputs_done, *[outs[i] for i in positions])
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        outs = list(outs)
        for i, w in zip(positions, wrapped):
            outs[i] = w
        return tuple(outs) if isinstance(result, tuple) else outs[0]

    def _outputs_done(self, grads):
        for hook in list(self.module._backward_pre_hooks.values()):
            new = hook(self.module, grads)
            grads = grads if new is None else tuple(new)
        self.grad_outputs = grads
        if self.n_inputs == 0:  # no input needs a gradient: the hooks see None
            for hook in list(self.module._backward_hooks.values()):
                hook(self.module, (None,), grads)
        return grads

    def _inputs_done(self, grads):
        for hook in list(self.module._backward_hooks.values()):
            new = hook(self.module, grads, self.grad_outputs)
            grads = grads if new is None else tuple(new)
        return grads
