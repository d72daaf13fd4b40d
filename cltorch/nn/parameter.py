"""``Parameter``: a tensor that a Module registers as one of its parameters."""
from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad (unless told otherwise) and that Modules collect.

    Ops on a parameter give plain Tensors, as in PyTorch.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..api.creation import empty
            data = empty(0)
        self = object.__new__(cls)
        self._storage, self._shape, self._strides = data._storage, data._shape, data._strides
        self._offset, self.dtype = data._offset, data.dtype
        self.requires_grad_(requires_grad)
        return self

    def __init__(self, data=None, requires_grad=True):
        pass

    @classmethod
    def _make(cls, storage, shape, strides, offset, dtype):
        # what ops build from a parameter (results, views, detach) are plain Tensors
        return Tensor._make(storage, shape, strides, offset, dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (Parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = Parameter(self.detach().clone(), self.requires_grad)
        return memo[id(self)]
