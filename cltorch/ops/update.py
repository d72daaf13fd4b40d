"""Fused in-place updates of a parameter and its state buffers from its gradient (the
optimizers' step): the ``update.mako`` kernel, or the rule's NumPy twin on the cpu."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..codegen import DIALECTS, render
from .array import Array, cpu_view
from .launch import INT32_LIMIT, cached_kernel, index_types


@dataclass(frozen=True, eq=False)
class Rule:
    """One optimizer's element-wise update: C statements and a NumPy twin over the parameter
    ``p``, gradient ``g``, the named ``states`` and ``scalars``."""
    name: str
    states: tuple
    scalars: tuple
    body: str
    numpy: object  # fn(p, g, states: dict, scalars: dict) -> (p, states dict), float arrays


def apply(rule: Rule, param: Array, grad: Array, states: dict, scalars: dict) -> None:
    """Update ``param`` and ``states`` in place (all contiguous, same device)."""
    n = param._numel()
    if n == 0:
        return
    param._storage.version += 1
    device = param._device
    if device.kind == "cpu":
        ct = param.dtype.compute.numpy
        p = param.dtype.to_numpy_values(cpu_view(param)).astype(ct)
        g = grad.dtype.to_numpy_values(cpu_view(grad)).astype(ct)
        s = {k: states[k].dtype.to_numpy_values(cpu_view(states[k])).astype(ct)
             for k in rule.states}
        with np.errstate(all="ignore"):
            p, s = rule.numpy(p, g, s, {k: ct.type(v) for k, v in scalars.items()})
        cpu_view(param)[...] = param.dtype.from_numpy_values(p)
        for k in rule.states:
            cpu_view(states[k])[...] = states[k].dtype.from_numpy_values(s[k])
        return
    big = param._storage.nbytes > INT32_LIMIT
    idx, cidx = index_types(big)
    compute = param.dtype.compute.numpy
    kernel = cached_kernel(device, ("update", rule, param.dtype, grad.dtype, big), lambda: (
        update_source(DIALECTS[device.kind], rule, param.dtype, grad.dtype, cidx), rule.name,
        (None, None) + (None,) * len(rule.states) + (compute,) * len(rule.scalars) + (idx,)))
    device.launch(kernel, n, [param._storage.buffer, grad._storage.buffer] +
                  [states[k]._storage.buffer for k in rule.states] +
                  [scalars[k] for k in rule.scalars] + [n])


def update_source(dialect, rule, dtype, grad, index) -> str:
    """Source of ``rule``'s update kernel for one dialect (the template tests use it)."""
    return render("update.mako", dialect, name=rule.name, dtype=dtype, grad=grad,
                  states=rule.states, scalars=rule.scalars, body=rule.body, index=index)
