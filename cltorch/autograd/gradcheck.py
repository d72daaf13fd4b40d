"""gradcheck / gradgradcheck: the analytical Jacobian (one backward per output element)
against central differences, as PyTorch's ``torch.autograd.gradcheck``."""
from __future__ import annotations

import warnings

import numpy as np

from .engine import grad
from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytical and numerical Jacobians differ."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _is_tensor(x) -> bool:
    return hasattr(x, "_storage") and hasattr(x, "grad_fn")


def _differentiable_outputs(func, inputs):
    return [o for o in _as_tuple(func(*inputs)) if _is_tensor(o) and o.requires_grad]


def _numerical(func, inputs, wrt, eps):
    """J[o][i]: (numel(output o), numel(input i)) by central differences."""
    columns = {}
    for i in wrt:
        x = inputs[i]
        cols = []
        for index in np.ndindex(*x.shape):
            element = x.detach()[index] if x.ndim else x.detach()
            original = element.item()
            plus = _shifted(func, inputs, element, original + eps)
            minus = _shifted(func, inputs, element, original - eps)
            with no_grad():
                element.fill_(original)
            cols.append([((p._host_values().astype(np.float64) -
                           m._host_values().astype(np.float64)) / (2 * eps)).ravel()
                         for p, m in zip(plus, minus)])
        columns[i] = cols
    return columns


def _shifted(func, inputs, element, value):
    """The outputs (host copies) with one input element set to ``value``."""
    with no_grad():
        element.fill_(value)
    return [o.detach().to("cpu", copy=True) for o in _values(func, inputs)]


def _values(func, inputs):
    return [o for o in _as_tuple(func(*inputs)) if _is_tensor(o) and o.dtype.is_floating_point]


def _analytical(outputs, inputs, wrt):
    """J[o][i] row by row: one backward per output element."""
    rows = {}
    for k, out in enumerate(outputs):
        for flat in range(out.numel()):
            seed = out.new_zeros(out._shape)
            with no_grad():
                seed.view(-1)[flat] = 1.0
            grads = grad(out, [inputs[i] for i in wrt], seed, retain_graph=True,
                         allow_unused=True)
            for i, g in zip(wrt, grads):
                row = np.zeros(inputs[i].numel()) if g is None else \
                    g._host_values().astype(np.float64).ravel()
                rows.setdefault((k, i), []).append(row)
    return rows


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """True when the gradients of ``func`` at ``inputs`` (those requiring grad) match finite
    differences; otherwise raise (or return False with ``raise_exception=False``)."""
    inputs = _as_tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if _is_tensor(x) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    for i in wrt:
        if inputs[i].dtype.name != "float64":
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          f"point. This check will likely fail if all the inputs are not of "
                          f"double precision floating point.", UserWarning, stacklevel=2)
    outputs = _differentiable_outputs(func, inputs)
    analytical = _analytical(outputs, inputs, wrt)
    numerical = _numerical(func, inputs, wrt, eps)
    for k, out in enumerate(outputs):
        for i in wrt:
            a = np.array(analytical[(k, i)]).reshape(out.numel(), inputs[i].numel())
            n = np.array([col[k] for col in numerical[i]]).T.reshape(out.numel(),
                                                                    inputs[i].numel())
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                message = (f"Jacobian mismatch for output {k} with respect to input {i},\n"
                           f"numerical:{n}\nanalytical:{a}\n")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, **kwargs):
    """gradcheck of the gradients of ``func`` (second derivatives, through create_graph)."""
    inputs = _as_tuple(inputs)
    outputs = _differentiable_outputs(func, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(o.new_empty(o._shape).normal_().requires_grad_(True)
                             for o in outputs)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)
    wrt = [i for i, x in enumerate(inputs) if _is_tensor(x) and x.requires_grad]

    def first_derivatives(*args):
        xs, vs = args[:n], args[n:]
        outs = _differentiable_outputs(func, xs)
        return grad(outs, [xs[i] for i in wrt], vs, create_graph=True, allow_unused=True)

    return gradcheck(lambda *args: tuple(g for g in first_derivatives(*args) if g is not None),
                     inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
