"""Gradients of views: a view's gradient is the input's shape filled with zeros except for the
region the view selects. The region is found by replaying the view op on the gradient buffer,
so one function serves slicing, diagonals, windows and strided views."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .graph import record
from .grad_mode import no_grad


def region_backward(g, shape, replay):
    """Zeros of ``shape`` holding ``g`` where ``replay`` (the forward view op, applied to a
    tensor of ``shape``) points; overlapping regions (windows, stride 0) add up. The result is
    differentiable in ``g``: its own gradient is ``replay`` of the incoming one."""
    with no_grad():
        out = g.new_zeros(shape)
        region = replay(out)
        if overlaps(region._shape, region._strides):
            positions = replay(g.new_tensor(np.arange(out.numel()), dtype=dtypes.int64).view(
                shape))
            out.view(-1).index_add_(0, positions.reshape(-1), g.reshape(-1))
        else:
            region.copy_(g)
    return record(out, "ViewScatterBackward0", (g,), lambda gg: replay(gg))


def overlaps(shape, strides) -> bool:
    """True when two indices of a view with these sizes and strides reach the same element."""
    dims = sorted((abs(st), n) for n, st in zip(shape, strides) if n > 1)
    reach = 0  # the largest offset the smaller-stride dims can add
    for stride, n in dims:
        if stride <= reach:
            return True
        reach += (n - 1) * stride
    return False
