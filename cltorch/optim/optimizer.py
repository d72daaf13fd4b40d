"""``Optimizer``: parameter groups with per-group options, per-parameter state, state dicts
and ``zero_grad``, as ``torch.optim.Optimizer``."""
from __future__ import annotations

import collections
import copy
import functools
import threading

from ..autograd.engine import zero_grads
from ..autograd.grad_mode import no_grad
from ..backend import capture
from .. import dtypes
from ..ops import update as fused
from ..ops.array import cpu_view
from ..tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: ``params`` is an iterable of tensors or of dicts (param groups, each with
    its own options); ``defaults`` fills the options a group does not set."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # a compiled region replays a step by running it again
            cls.step = capture.as_host_step(_batching(cls.__dict__["step"]))

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = collections.defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (e.g. a new layer to fine-tune)."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for key, value in self.defaults.items():
            if value is required and key not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            group.setdefault(key, value)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None by default)."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        raise NotImplementedError

    def _params_with_grad(self):
        """(group, parameter) for every parameter that has a gradient, in order."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p

    def _closure_loss(self, closure):
        if closure is None:
            return None
        from ..autograd.grad_mode import enable_grad
        with enable_grad():
            return closure()

    # ---- state dicts: parameters by position, as PyTorch numbers them ------------------------
    def state_dict(self) -> dict:
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        by_index = {}
        for mine, theirs in zip(self.param_groups, groups):
            for p, i in zip(mine["params"], theirs["params"]):
                by_index[i] = p
            for key, value in theirs.items():
                if key != "params":
                    mine[key] = value
        self.state = collections.defaultdict(dict)
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: _to_param(p, k, v) for k, v in s.items()}

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)


def _to_param(p, key, value):
    """A loaded state value moved to the parameter's device, floating tensors cast to its
    dtype (PyTorch's policy; ``step`` stays as it is)."""
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    value = value.detach().clone()
    if key == "step":
        return value
    if value.dtype.is_floating_point and p.dtype.is_floating_point:
        return value.to(p.device, p.dtype)
    return value.to(p.device)


def advance_step(state: dict) -> float:
    """``state["step"]`` (a cpu tensor, as PyTorch keeps it) plus one, written back. A plain
    float32 counter is read and written through its NumPy view: a ``fill_``'s dispatch cost
    more than the rest of an Adam step's Python (28% of it, measured with py-spy)."""
    counter = state["step"]
    if counter.is_cpu and counter.dtype is dtypes.float32 and not counter._shape and \
            not counter.requires_grad:
        view = cpu_view(counter)
        step = float(view) + 1
        view[()] = step
        counter._storage.version += 1  # an in-place write, as fill_'s
        return step
    step = float(counter.item()) + 1
    counter.fill_(step)
    return step


_PENDING = threading.local()  # .updates: the fused updates of the step running in the thread


def _batching(method):
    """Wrap an optimizer's ``step`` so that its fused updates are launched together when it
    returns (fused_update): PyTorch's foreach, one launch for many parameters. Each step
    launches its own when it returns, so that a subclass's step reading the parameters after
    ``super().step()`` (or a wrapper's after its inner optimizer's) reads them updated. A step
    that raises launches none of them (as PyTorch's foreach steps, which check all first)."""
    @functools.wraps(method)
    def step(self, *args, **kwargs):
        outer = getattr(_PENDING, "updates", None)
        _PENDING.updates = updates = []
        try:
            result = method(self, *args, **kwargs)
        finally:
            _PENDING.updates = outer
        _launch_updates(updates)
        return result
    return step


def _launch_updates(updates: list) -> None:
    """Run the collected updates: those sharing a rule, device, dtypes and scalars as one
    multi-tensor update (ops/update.apply_many), in the order they were made."""
    batches = {}
    for rule, p, grad, states, scalars in updates:
        key = (rule, p._device, p.dtype, grad.dtype, tuple(scalars.items()))
        batches.setdefault(key, (rule, [], scalars))[1].append((p, grad, states))
    for rule, items, scalars in batches.values():
        fused.apply_many(rule, items, scalars)


def fused_update(rule, p, grad, states: dict, scalars: dict) -> None:
    """One fused kernel updating ``p`` and its ``states`` in place (through a contiguous
    copy when a tensor is a strided view). Inside an optimizer's ``step`` the update is
    checked at once and launched with the step's others when the step returns."""
    targets = [p] + [states[k] for k in rule.states]
    if all(t._offset == 0 and t._is_contiguous() for t in targets + [grad]):
        # the usual case: no copies, so no graph to keep out
        states = dict(zip(rule.states, targets[1:]))
        pending = getattr(_PENDING, "updates", None)
        if pending is None:
            fused.apply(rule, p, grad, states, scalars)
        else:
            fused.check_operands(p, grad, states)
            pending.append((rule, p, grad, states, scalars))
        return
    with no_grad():
        dense = [t if t._is_contiguous() and t._offset == 0 else t.contiguous().clone()
                 for t in targets]
        g = grad if grad._is_contiguous() and grad._offset == 0 else grad.contiguous().clone()
        fused.apply(rule, dense[0], g, dict(zip(rule.states, dense[1:])), scalars)
        for original, copy_ in zip(targets, dense):
            if copy_ is not original:
                original.copy_(copy_)
