"""The functional API: vjp, jvp, jacobian, hessian, hvp, vhp, as in
``torch.autograd.functional`` (jvp through the double-backward trick)."""
from __future__ import annotations

from .engine import grad
from .grad_mode import enable_grad


def _tuple(x):
    return (tuple(x), True) if isinstance(x, (tuple, list)) else ((x,), False)


def _prepare(inputs, create_graph):
    """Inputs detached from any outer graph and made to require grad."""
    return tuple(x.detach().requires_grad_(True) if not create_graph or not x.requires_grad
                 else x.view_as(x) for x in inputs)


def _grads(outputs, inputs, grad_outputs, create_graph, strict):
    outs = [o for o in outputs]
    result = grad(outs, inputs, grad_outputs, retain_graph=True, create_graph=create_graph,
                  allow_unused=True)
    fixed = []
    for x, g in zip(inputs, result):
        if g is None:
            if strict:
                raise RuntimeError("The output of the user-provided function is independent of "
                                   "an input. This is not allowed in strict mode.")
            g = x.new_zeros(x._shape)
        fixed.append(g if create_graph else g.detach())
    return tuple(fixed)


def _ones_for_scalars(outputs, v):
    if v is not None:
        return _tuple(v)[0]
    for o in outputs:
        if o.numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function "
                               "returns a single Tensor with a single element.")
    return tuple(o.new_ones(o._shape) for o in outputs)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    inputs, many_in = _tuple(inputs)
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        outputs, many_out = _tuple(func(*xs))
        result = _grads(outputs, xs, _ones_for_scalars(outputs, v), create_graph, strict)
    outputs = tuple(o if create_graph else o.detach() for o in outputs)
    return (outputs if many_out else outputs[0]), (result if many_in else result[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), from the gradient of v^T-weighted vjp (double backward)."""
    inputs, many_in = _tuple(inputs)
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        outputs, many_out = _tuple(func(*xs))
        if v is None:
            if any(x.numel() != 1 for x in xs):
                raise RuntimeError("The vector v can only be None if the input to the "
                                   "user-provided function is a single Tensor with a single "
                                   "element.")
            v = tuple(x.new_ones(x._shape) for x in xs)
        v = _tuple(v)[0]
        dummies = tuple(o.new_zeros(o._shape).requires_grad_(True) for o in outputs)
        g = grad(outputs, xs, dummies, create_graph=True, allow_unused=True)
        pairs = [(gi, vi) for gi, vi in zip(g, v) if gi is not None]
        result = grad([p[0] for p in pairs], dummies, [p[1] for p in pairs],
                      create_graph=create_graph, allow_unused=True)
        result = tuple(o.new_zeros(o._shape) if r is None else (r if create_graph else r.detach())
                       for o, r in zip(outputs, result))
    outputs = tuple(o if create_graph else o.detach() for o in outputs)
    return (outputs if many_out else outputs[0]), (result if many_out else result[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """d func / d inputs: for output o and input x a tensor of shape o.shape + x.shape, nested
    in tuples as PyTorch nests them."""
    from ..api.layout import stack
    inputs, many_in = _tuple(inputs)
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        outputs, many_out = _tuple(func(*xs))
        table = []
        for out in outputs:
            rows = [[] for _ in xs]
            flat = out.reshape(-1)
            for k in range(flat.numel()):
                gs = _grads([flat[k]], xs, None, create_graph, strict)
                for i, g in enumerate(gs):
                    rows[i].append(g)
            table.append(tuple(
                (stack(r).reshape(out.shape + x.shape) if r else
                 x.new_zeros(tuple(out.shape) + tuple(x.shape)))
                for r, x in zip(rows, xs)))
    if not many_out:
        return table[0] if many_in else table[0][0]
    return tuple(row if many_in else row[0] for row in table)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient."""
    inputs, many_in = _tuple(inputs)

    def gradient(*xs):
        with enable_grad():
            out = func(*xs)
            if out.numel() != 1:
                raise RuntimeError("The function given to hessian should return a single "
                                   "Tensor with a single element.")
            return _grads([out.reshape(())], xs, None, True, strict)

    return jacobian(gradient if many_in else lambda x: gradient(x)[0],
                    inputs if many_in else inputs[0], create_graph=create_graph, strict=strict)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H)."""
    inputs, many_in = _tuple(inputs)
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        out = func(*xs)
        g = _grads([out], xs, None, True, strict)
        result = _grads(list(g), xs, _tuple(v)[0], create_graph, strict)
    value = out if create_graph else out.detach()
    return value, (result if many_in else result[0])


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v); the Hessian is symmetric, so this is vhp."""
    return vhp(func, inputs, v, create_graph, strict)
