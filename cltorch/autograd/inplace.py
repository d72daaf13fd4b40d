"""In-place ops under autograd. The new value is computed out of place (so it has a node),
written into the tensor, and the tensor takes that node over; a view written in place gives
its base a CopySlices node, as in PyTorch."""
from __future__ import annotations

from ..dtypes import can_cast
from .grad_mode import is_grad_enabled, no_grad
from .graph import record
from .views import region_backward


def tracked(self, others=()) -> bool:
    """Whether an in-place op on ``self`` with ``others`` must go through autograd."""
    if not is_grad_enabled():
        return False
    base = self._base
    return self._requires_grad or (base is not None and base._requires_grad) or any(
        getattr(t, "_requires_grad", False) for t in others)


def write(self, compute):
    """Make ``self`` hold ``compute()`` (a new, differentiable tensor of self's shape), in
    place, and continue the graph from it. Returns ``self``."""
    base = self._base
    if self.grad_fn is None and self._requires_grad and base is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    if base is not None and base._requires_grad and base.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    new = compute()
    if new._shape != self._shape:
        raise RuntimeError(f"output with shape {list(self._shape)} doesn't match the broadcast "
                           f"shape {list(new._shape)}")
    if not can_cast(new.dtype, self.dtype):
        raise RuntimeError(f"result type {new.dtype.legacy_name} can't be cast to the desired "
                           f"output type {self.dtype.legacy_name}")
    if not new.requires_grad:  # a constant overwrote self: its old graph gets zeros
        new = record(new.clone(), "FillBackward0", (self,), lambda g: g.new_zeros(g.shape))
    if new.requires_grad and (new.grad_fn is None or new._storage is self._storage):
        new = new.clone()  # a node of its own, and no alias of the data about to change
    with no_grad():
        self.copy_(new)
    if not new.requires_grad:
        return self
    if base is None:
        self._requires_grad, self.grad_fn, self._output_nr = True, new.grad_fn, new._output_nr
    else:
        _copy_slices(base, self, new)
    return self


def _copy_slices(base, view, new):
    """``base`` now holds ``new`` in the region of ``view``: give it a node that sends the
    region's gradient to ``new`` and the rest to its old graph; make ``view`` a view of it."""
    if not base._is_contiguous():
        raise NotImplementedError("an in-place operation on a view of a non-contiguous tensor "
                                  "that requires grad is not supported by cltorch yet")
    replay = _region(base, view)
    with no_grad():
        outside = base.new_ones(base._shape)
        replay(outside).zero_()
    # record reads base's current grad_fn as the edge to its old graph, then replaces it
    record(base, "CopySlices", (base, new), lambda g: (g * outside, replay(g)))
    shape = base._shape
    view.grad_fn = None
    record(view, "AsStridedBackward0", (base,), lambda g: region_backward(g, shape, replay))


def _region(base, view):
    """The view op taking a tensor shaped like ``base`` to the region of ``view``."""
    shape, strides, offset = view._shape, view._strides, view._offset - base._offset

    def replay(t):
        t = t.contiguous()
        return t._view(shape, strides, t._offset + offset, name="AsStridedBackward0",
                       backward=lambda g: region_backward(g, t._shape, replay))
    return replay
