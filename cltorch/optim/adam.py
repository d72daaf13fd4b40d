"""Adam and AdamW (amsgrad, weight decay, maximize)."""
from __future__ import annotations

import math

from . import rules
from .optimizer import Optimizer, fused_update


def _check(lr, eps, betas, weight_decay):
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam; ``weight_decay`` adds an L2 term to the gradient (AdamW decouples it)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused))
        self.decoupled = self.decoupled or decoupled_weight_decay

    def step(self, closure=None):
        """One update of every parameter that has a gradient: one fused kernel each."""
        from ..creation import tensor
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            rule = rules.adam(group["amsgrad"], self.decoupled)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = tensor(0.0, device="cpu")
                    state["exp_avg"] = p.detach().new_zeros(p.shape)
                    state["exp_avg_sq"] = p.detach().new_zeros(p.shape)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = p.detach().new_zeros(p.shape)
                step = float(state["step"].item()) + 1
                state["step"].fill_(step)
                lr, wd = group["lr"], group["weight_decay"]
                scalars = dict(maximize=float(group["maximize"]), wd=wd, decay=1 - lr * wd,
                               w1=1 - beta1, beta2=beta2, w2=1 - beta2,
                               bc2_sqrt=math.sqrt(1 - beta2 ** step), eps=group["eps"],
                               neg_step=-(lr / (1 - beta1 ** step)))
                states = {"m": state["exp_avg"], "v": state["exp_avg_sq"]}
                if group["amsgrad"]:
                    states["vmax"] = state["max_exp_avg_sq"]
                fused_update(rule, p, p.grad, states, scalars)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused)
