"""Shapes and strides: broadcasting, contiguous strides and collapsing of mergeable dims."""
from __future__ import annotations


def contiguous_strides(shape) -> tuple:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def broadcast_shapes(*shapes) -> tuple:
    """PyTorch's broadcasting of several shapes; RuntimeError naming the sizes that clash."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, ndim - len(shape)):
            if size != out[i] and size != 1:
                if out[i] != 1:
                    dim = i - ndim + len(shape)
                    raise RuntimeError(
                        f"The size of tensor a ({out[i]}) must match the size of tensor b "
                        f"({size}) at non-singleton dimension {dim}")
                out[i] = size
    return tuple(out)


def broadcast_strides(shape, strides, target) -> tuple:
    """Strides that read a tensor of ``shape`` as if expanded to ``target`` (0 where broadcast)."""
    lead = len(target) - len(shape)
    return (0,) * lead + tuple(0 if s == 1 and t != 1 else st
                               for s, st, t in zip(shape, strides, target[lead:]))


def collapse(shape, strides_list) -> tuple:
    """Drop size-1 dims and merge neighbours that every operand walks contiguously.

    Returns (sizes, [strides per operand]); sizes may be () for a single element.
    """
    dims = [d for d, s in enumerate(shape) if s != 1]
    sizes = [shape[d] for d in dims]
    strides = [[st[d] for d in dims] for st in strides_list]
    i = len(sizes) - 1
    while i > 0:
        if all(st[i - 1] == st[i] * sizes[i] for st in strides):
            sizes[i - 1] *= sizes[i]
            del sizes[i]
            for st in strides:
                st[i - 1] = st[i]
                del st[i]
        i -= 1
    return tuple(sizes), [tuple(st) for st in strides]


def is_contiguous(shape, strides) -> bool:
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True
