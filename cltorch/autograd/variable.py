"""``Variable``, for old tutorials: since PyTorch 0.4 it returns a plain Tensor."""
from __future__ import annotations

import warnings


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return hasattr(other, "_storage") and hasattr(other, "grad_fn")

    def __call__(cls, data, requires_grad=False, volatile=False):
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` "
                          "instead.", UserWarning, stacklevel=2)
            return data.detach()
        return data.detach().requires_grad_(requires_grad) if requires_grad else data


class Variable(metaclass=_VariableMeta):
    """``Variable(tensor, requires_grad=False, volatile=False)`` returns a Tensor;
    ``volatile=True`` gives one without a graph (deprecated in PyTorch, with a warning)."""


class _ExecutionEngine:
    """``Variable._execution_engine``: ``queue_callback(fn)`` runs ``fn`` when the backward now
    running ends (autograd/engine.py)."""

    @staticmethod
    def queue_callback(callback) -> None:
        from .engine import queue_callback
        queue_callback(callback)


Variable._execution_engine = _ExecutionEngine()
