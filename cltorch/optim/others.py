"""RMSprop and Adagrad."""
from __future__ import annotations

from . import rules
from .optimizer import Optimizer, fused_update


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        for name, value in (("learning rate", lr), ("epsilon value", eps),
                            ("momentum value", momentum), ("weight_decay value", weight_decay),
                            ("alpha value", alpha)):
            if value < 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def step(self, closure=None):
        from ..api.creation import tensor
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            rule = rules.rmsprop(group["centered"], group["momentum"] > 0)
            state = self.state[p]
            if not state:
                state["step"] = tensor(0.0, device="cpu")
                state["square_avg"] = p.detach().new_zeros(p.shape)
                if group["momentum"] > 0:
                    state["momentum_buffer"] = p.detach().new_zeros(p.shape)
                if group["centered"]:
                    state["grad_avg"] = p.detach().new_zeros(p.shape)
            state["step"].add_(1)
            states = {"sq": state["square_avg"]}
            if group["centered"]:
                states["avg"] = state["grad_avg"]
            if group["momentum"] > 0:
                states["buf"] = state["momentum_buffer"]
            fused_update(rule, p, p.grad, states, dict(
                maximize=float(group["maximize"]), wd=group["weight_decay"],
                alpha=group["alpha"], w=1 - group["alpha"], eps=group["eps"],
                neg_lr=-group["lr"], momentum=group["momentum"]))
        return loss


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        for name, value in (("learning rate", lr), ("lr_decay value", lr_decay),
                            ("weight_decay value", weight_decay),
                            ("initial_accumulator_value value", initial_accumulator_value),
                            ("epsilon value", eps)):
            if value < 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        from ..api.creation import tensor
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["step"] = tensor(0.0, device="cpu")
                self.state[p]["sum"] = p.detach().new_full(
                    tuple(p.shape), group["initial_accumulator_value"])

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            state = self.state[p]
            step = float(state["step"].item()) + 1
            state["step"].fill_(step)
            clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
            fused_update(rules.adagrad(), p, p.grad, {"sum": state["sum"]}, dict(
                maximize=float(group["maximize"]), wd=group["weight_decay"],
                eps=group["eps"], neg_clr=-clr))
        return loss


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        for name, value in (("learning rate", lr), ("epsilon value", eps),
                            ("weight_decay value", weight_decay)):
            if value < 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, capturable=capturable,
                                      maximize=maximize, differentiable=differentiable))

    def step(self, closure=None):
        from .adam import _adaptive_state
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            state, _ = _adaptive_state(self, p, ("square_avg", "acc_delta"))
            fused_update(rules.adadelta(), p, p.grad, {"sq": state["square_avg"],
                                                       "acc": state["acc_delta"]}, dict(
                maximize=float(group["maximize"]), wd=group["weight_decay"],
                rho=group["rho"], w=1 - group["rho"], eps=group["eps"],
                neg_lr=-group["lr"]))
        return loss


class Rprop(Optimizer):
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def step(self, closure=None):
        from ..api.creation import tensor
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            (etaminus, etaplus), (smin, smax) = group["etas"], group["step_sizes"]
            state = self.state[p]
            if not state:
                state["step"] = tensor(0.0, device="cpu")
                state["prev"] = p.detach().new_zeros(p.shape)
                state["step_size"] = p.detach().new_full(tuple(p.shape), group["lr"])
            state["step"].add_(1)
            fused_update(rules.rprop(), p, p.grad, {"prev": state["prev"],
                                                    "size": state["step_size"]}, dict(
                maximize=float(group["maximize"]), etaplus=etaplus, etaminus=etaminus,
                smin=smin, smax=smax))
        return loss


class ASGD(Optimizer):
    """Averaged SGD: the running average of the iterates is kept in state['ax']."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def step(self, closure=None):
        from ..api.creation import tensor
        loss = self._closure_loss(closure)
        for group, p in self._params_with_grad():
            lr, lambd = group["lr"], group["lambd"]
            state = self.state[p]
            if not state:
                state["step"] = tensor(0.0, device="cpu")
                state["eta"] = tensor(float(lr), device="cpu")
                state["mu"] = tensor(1.0, device="cpu")
                state["ax"] = p.detach().new_zeros(p.shape)
            step = float(state["step"].item()) + 1
            state["step"].fill_(step)
            eta, mu = float(state["eta"].item()), float(state["mu"].item())
            fused_update(rules.asgd(), p, p.grad, {"ax": state["ax"]}, dict(
                maximize=float(group["maximize"]), wd=group["weight_decay"],
                decay=1 - lambd * eta, neg_eta=-eta, mu=mu))
            state["eta"].fill_(lr / ((1 + lambd * lr * step) ** group["alpha"]))
            state["mu"].fill_(1 / max(1, step - group["t0"]))
        return loss
