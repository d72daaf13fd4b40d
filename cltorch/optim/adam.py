"""Adam and AdamW (amsgrad, weight decay, maximize)."""
from __future__ import annotations

import math

from . import rules
from .optimizer import Optimizer, advance_step, fused_update


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
        """One update of every parameter that has a gradient (fused kernels, optimizer.py)."""
        from ..api.creation import tensor
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            beta1, beta2 = group["betas"]
            rule = rules.adam(group["amsgrad"], self.decoupled)
            state = self.state[p]
            if not state:
                state["step"] = tensor(0.0, device="cpu")
                state["exp_avg"] = p.detach().new_zeros(p.shape)
                state["exp_avg_sq"] = p.detach().new_zeros(p.shape)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = p.detach().new_zeros(p.shape)
            step = advance_step(state)
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


def _adaptive_state(optimizer, p, names):
    """The step counter (a cpu tensor, as in PyTorch) and zero-filled buffers ``names``."""
    from ..api.creation import tensor
    state = optimizer.state[p]
    if not state:
        state["step"] = tensor(0.0, device="cpu")
        for name in names:
            state[name] = p.detach().new_zeros(p.shape)
    return state, advance_step(state)


class Adamax(Optimizer):
    """Adam with the infinity norm."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            beta1, beta2 = group["betas"]
            state, step = _adaptive_state(self, p, ("exp_avg", "exp_inf"))
            fused_update(rules.adamax(), p, p.grad, {"m": state["exp_avg"],
                                                     "u": state["exp_inf"]}, dict(
                maximize=float(group["maximize"]), wd=group["weight_decay"], w1=1 - beta1,
                beta2=beta2, eps=group["eps"], neg_clr=-(group["lr"] / (1 - beta1 ** step))))
        return loss


class NAdam(Optimizer):
    """Adam with Nesterov momentum (and its momentum-decay schedule)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        _check(lr, eps, betas, weight_decay)
        if momentum_decay < 0.0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      capturable=capturable, differentiable=differentiable))

    def step(self, closure=None):
        from ..api.creation import tensor
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            beta1, beta2 = group["betas"]
            lr, decay = group["lr"], group["momentum_decay"]
            fresh = not self.state[p]
            state, step = _adaptive_state(self, p, ("exp_avg", "exp_avg_sq"))
            if fresh:
                state["mu_product"] = tensor(1.0, device="cpu")
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
            product = float(state["mu_product"].item()) * mu
            state["mu_product"].fill_(product)
            wd = group["weight_decay"]
            fused_update(rules.nadam(group["decoupled_weight_decay"]), p, p.grad,
                         {"m": state["exp_avg"], "v": state["exp_avg_sq"]}, dict(
                             maximize=float(group["maximize"]), wd=wd, decay=1 - lr * wd,
                             w1=1 - beta1, beta2=beta2, w2=1 - beta2,
                             bc2=1 - beta2 ** step, eps=group["eps"],
                             c_grad=-lr * (1.0 - mu) / (1.0 - product),
                             c_avg=(-lr * mu_next) / (1.0 - product * mu_next)))
        return loss


class RAdam(Optimizer):
    """Rectified Adam: plain momentum SGD until the variance estimate is trustworthy."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      capturable=capturable, differentiable=differentiable))

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            state, step = _adaptive_state(self, p, ("exp_avg", "exp_avg_sq"))
            bc2 = 1 - beta2 ** step
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bc2
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                             ((rho_inf - 4) * (rho_inf - 2) * rho_t)) if rho_t > 5 else 0.0
            fused_update(rules.radam(group["decoupled_weight_decay"]), p, p.grad,
                         {"m": state["exp_avg"], "v": state["exp_avg_sq"]}, dict(
                             maximize=float(group["maximize"]), wd=wd, decay=1 - lr * wd,
                             w1=1 - beta1, beta2=beta2, w2=1 - beta2,
                             bc1=1 - beta1 ** step, bc2_sqrt=math.sqrt(bc2),
                             eps=group["eps"], lr=lr, rectify=float(rho_t > 5), rect=rect))
        return loss
