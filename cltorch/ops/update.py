"""Fused in-place updates of a parameter and its state buffers from its gradient (the
optimizers' step): the ``update.mako`` kernel, or the rule's NumPy twin on the cpu."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..codegen import DIALECTS, render
from .array import Array, check_device, cpu_view, quietly, store_values
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


def check_operands(param: Array, grad: Array, states: dict) -> None:
    """The gradient and every state tensor must match the parameter in shape, dtype (the
    states) and device: the kernel reads and writes ``numel(param)`` elements of each, so any
    mismatch (a replaced ``p.data``, a state dict from another model) would run out of bounds.
    Raised with the errors PyTorch's own step gives."""
    for other in [grad] + list(states.values()):
        check_device(param._storage.device, other._storage.device)
        if other._shape != param._shape:
            dim = next((i for i, (a, b) in enumerate(zip(other._shape[::-1],
                                                         param._shape[::-1])) if a != b),
                       0)
            a = other._shape[::-1][dim] if dim < len(other._shape) else 1
            b = param._shape[::-1][dim] if dim < len(param._shape) else 1
            raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b "
                               f"({b}) at non-singleton dimension "
                               f"{len(param._shape) - 1 - dim if param._shape else 0}")
    for other in states.values():
        if other.dtype is not param.dtype:
            raise RuntimeError(f"expected scalar type {param.dtype.legacy_name} but found "
                               f"{other.dtype.legacy_name}")


MAX_TENSORS = 16  # a multi-tensor launch's most tensors (its arguments stay few: 4 states
# make 96 buffers, within OpenCL's minimum of 1 KB of arguments and CUDA's 4 KB)


def apply(rule: Rule, param: Array, grad: Array, states: dict, scalars: dict) -> None:
    """Update ``param`` and ``states`` in place (all contiguous, same device)."""
    check_operands(param, grad, states)
    apply_many(rule, [(param, grad, states)], scalars)


def apply_many(rule: Rule, items: list, scalars: dict) -> None:
    """Update each (param, grad, states) of ``items`` in place with the same ``scalars``: one
    kernel for up to MAX_TENSORS of them. Their operands are checked (check_operands),
    contiguous from their storages' starts, on one device, the params of one dtype and the
    gradients of one dtype."""
    items = [item for item in items if item[0]._numel()]
    for param, _, _ in items:
        param._storage.version += 1
    if items and items[0][0]._device.kind == "cpu":
        for param, grad, states in items:
            _apply_numpy(rule, param, grad, states, scalars)
        return
    for first in range(0, len(items), MAX_TENSORS):
        _launch(rule, items[first:first + MAX_TENSORS], scalars)


def _launch(rule, items, scalars):
    param, grad, _ = items[0]
    device, count = param._device, len(items)
    ends = list(itertools.accumulate(p._numel() for p, _, _ in items))
    big = ends[-1] * max(param.dtype.itemsize, grad.dtype.itemsize, 4) > INT32_LIMIT
    idx, cidx = index_types(big)
    compute = param.dtype.compute.numpy
    key = ("update", rule, param.dtype, grad.dtype, big, count)
    kernel = cached_kernel(device, key, lambda: (
        update_source(DIALECTS[device.kind], rule, param.dtype, grad.dtype, cidx, count),
        rule.name, (None, None, *(None,) * len(rule.states)) * count +
        (compute,) * len(rule.scalars) + (idx,) * ((count if count > 1 else 0) + 1)))
    args = [b for p, g, states in items for b in
            [p._storage.buffer, g._storage.buffer] + [states[k]._storage.buffer
                                                      for k in rule.states]]
    args += [scalars[k] for k in rule.scalars]
    device.launch(kernel, ends[-1], args + (ends if count > 1 else []) + [ends[-1]])


def _apply_numpy(rule, param, grad, states, scalars):
    """The NumPy twin. The rules build new arrays and never write into their inputs, so the
    inputs are read in place (no copy where the stored type is the compute type) and the
    results written straight back."""
    ct = param.dtype.compute.numpy

    def read(t):
        return t.dtype.to_numpy_values(cpu_view(t)).astype(ct, copy=False)

    p, g, s = read(param), read(grad), {k: read(states[k]) for k in rule.states}
    p, s = quietly(rule.numpy, p, g, s, dict(zip(scalars, map(ct.type, scalars.values()))))
    store_values(param, np.asarray(p))
    for k in rule.states:
        store_values(states[k], np.asarray(s[k]))


def update_source(dialect, rule, dtype, grad, index, count=1) -> str:
    """Source of ``rule``'s update kernel of ``count`` tensors for one dialect (the template
    tests use it)."""
    return render("update.mako", dialect, name=rule.name, dtype=dtype, grad=grad,
                  states=rule.states, scalars=rule.scalars, body=rule.body, index=index,
                  count=count)
