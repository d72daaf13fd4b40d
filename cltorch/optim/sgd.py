"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize."""
from __future__ import annotations

from . import rules
from .optimizer import Optimizer, fused_update, required


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's formulation of momentum)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def step(self, closure=None):
        """One update of every parameter that has a gradient (fused kernels, optimizer.py)."""
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            momentum = group["momentum"]
            rule = rules.sgd(momentum != 0)
            state = self.state[p]
            first = "momentum_buffer" not in state or state["momentum_buffer"] is None
            if momentum != 0 and first:
                state["momentum_buffer"] = p.detach().new_zeros(p.shape)
            scalars = dict(maximize=float(group["maximize"]), wd=group["weight_decay"],
                           neg_lr=-group["lr"], momentum=momentum,
                           keep=1 - group["dampening"], nesterov=float(group["nesterov"]),
                           first=float(first))
            states = {"buf": state["momentum_buffer"]} if momentum != 0 else {}
            if momentum == 0:
                state.setdefault("momentum_buffer", None)
            fused_update(rule, p, p.grad, states, scalars)
        return loss
