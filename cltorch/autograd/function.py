"""Custom differentiable operations: subclass ``Function`` with static ``forward(ctx, ...)``
and ``backward(ctx, *grads)``, call ``apply``; they compose with the built-in ops."""
from __future__ import annotations

from .grad_mode import no_grad
from .graph import Node, needs_grad


def _is_tensor(x) -> bool:
    return hasattr(x, "_storage") and hasattr(x, "grad_fn")


class FunctionCtx:
    """The ``ctx`` a custom Function's forward and backward share."""

    def __init__(self):
        self.saved_tensors_ = ()
        self._to_save = ()
        self._dirty = set()
        self._non_differentiable = set()
        self.materialize_grads = True
        self.needs_input_grad = ()
        self._node = None

    def save_for_backward(self, *tensors):
        """Keep tensors for backward (checked against later in-place changes)."""
        self._to_save = tensors

    @property
    def saved_tensors(self):
        if self._node is None:
            return tuple(self._to_save)
        return tuple(self._node.saved_values())

    def mark_dirty(self, *tensors):
        """Declare the inputs that forward changed in place."""
        self._dirty = {id(t) for t in tensors}

    def mark_non_differentiable(self, *tensors):
        """Declare outputs that get no gradient (they will not require grad)."""
        self._non_differentiable = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool):
        """With False, backward receives None instead of zeros for unused outputs."""
        self.materialize_grads = bool(value)


class BackwardCFunction(Node):
    """The node of one custom Function call."""

    def __init__(self, cls, ctx, inputs, outputs, saved):
        super().__init__(cls.__name__ + "Backward", None, inputs, saved, outputs)
        self._cls, self._ctx = cls, ctx
        self._materialize = ctx.materialize_grads

    def apply(self, grads):
        result = self._cls.backward(self._ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        n = len(self.next_functions)
        if len(result) < n:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                               f"gradients (expected {n}, got {len(result)})")
        return tuple(result[:n]) if all(r is None for r in result[n:]) else result


class FunctionMeta(type):
    """Gives every Function subclass PyTorch's ``apply`` classmethod behaviour."""


class Function(metaclass=FunctionMeta):
    """Base class of custom autograd operations.

    Example::

        class Exp(Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, grad):
                y, = ctx.saved_tensors
                return grad * y

        y = Exp.apply(x)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode "
                                  "AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensors = [a for a in args if _is_tensor(a)]
        ctx.needs_input_grad = tuple(_is_tensor(a) and a.requires_grad for a in args)
        record = needs_grad(tensors)
        with no_grad():
            outputs = cls.forward(ctx, *args, **kwargs)
        if not record:
            return outputs
        many = isinstance(outputs, tuple)
        outs = outputs if many else (outputs,)
        outs = tuple(_own(o, args, ctx) for o in outs)
        node = BackwardCFunction(cls, ctx, args, [o if _is_tensor(o) else None for o in outs],
                                 ctx._to_save)
        ctx._node = node
        for nr, out in enumerate(outs):
            if not _is_tensor(out) or id(out) in ctx._non_differentiable or \
                    not out.dtype.is_floating_point:
                continue
            if id(out) in ctx._dirty and out.grad_fn is None and out._requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            out._requires_grad, out.grad_fn, out._output_nr = True, node, nr
        return outs if many else outs[0]


def _own(out, args, ctx):
    """An output that is an input returned unchanged becomes an alias, so that the input keeps
    its own graph (in-place outputs marked dirty are the exception)."""
    if _is_tensor(out) and any(out is a for a in args) and id(out) not in ctx._dirty:
        return out.detach()
    return out


def once_differentiable(fn):
    """Mark a backward as not differentiable twice (accepted for compatibility)."""
    return fn
