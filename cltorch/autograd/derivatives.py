"""Pieces that several backward formulas share: undoing a reduction's shape, sharing a
gradient among tied extremes, sending it to selected indices. Written with Tensor methods, so
the formulas built from them can be differentiated again."""
from __future__ import annotations


def unreduce(g, shape, dims, keepdim):
    """``g`` of a reduction over ``dims`` broadcast back to the input ``shape``."""
    if not keepdim:
        for d in sorted(dims):
            g = g.unsqueeze(d)
    return g.expand(shape)


def evenly(g, x, out, dims, keepdim):
    """The gradient of amax/amin: shared equally by the elements equal to the result."""
    hit = (x == unreduce(out, x._shape, dims, keepdim)).to(g.dtype)
    count = hit.sum(tuple(dims), keepdim=True)
    return unreduce(g, x._shape, dims, keepdim) * hit / count


def to_indices(g, shape, dim, index, keepdim):
    """The gradient of values picked at ``index`` along ``dim``: ``g`` scattered there."""
    if not keepdim:
        g, index = g.unsqueeze(dim), index.unsqueeze(dim)
    return g.new_zeros(shape).scatter(dim, index, g)


def prod_backward(g, x, out, dim, keepdim):
    """d prod / dx_i = product of the other elements, exact with zeros: exclusive products from
    the left times those from the right."""
    if dim is None:
        return prod_backward(g.reshape(1), x.reshape(-1), out.reshape(1), 0, True).reshape(
            x._shape)
    from ..api.layout import cat
    n = x._shape[dim]
    ones = x.new_ones(x.narrow(dim, 0, 1).shape)
    left = cat([ones, x.narrow(dim, 0, n - 1)], dim).cumprod(dim)
    right = cat([ones, x.flip([dim]).narrow(dim, 0, n - 1)], dim).cumprod(dim).flip([dim])
    return unreduce(g, x._shape, (dim,), keepdim) * left * right
