"""L-BFGS with an optional strong-Wolfe line search, as ``torch.optim.LBFGS``: the two-loop
recursion over the last ``history_size`` curvature pairs, on the parameters flattened into one
vector. Scalars (step sizes, dot products) are host numbers; the vectors stay on the device."""
from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), kept in ``bounds``
    (default: between the two points); the midpoint when the cubic has no minimum."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1 ** 2 - g1 * g2
    if square < 0:
        return (low + high) / 2.0
    d2 = np.sqrt(square)
    if x1 <= x2:
        best = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        best = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(best, low), high)


class _Point:
    """A trial step: its size t, loss f, flat gradient g and directional derivative gtd."""

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step t satisfying the strong Wolfe conditions along d (Nocedal & Wright, algorithms
    3.5 and 3.6): first bracket an acceptable step, then zoom into the bracket by cubic
    interpolation. Returns (loss, flat gradient, t, evaluations)."""
    real = type(gtd)
    d_norm = real(d.abs().max().item())
    start = _Point(0, f, g.clone(), gtd)
    previous, evaluations = start, 1
    current = _Point(t, *evaluate(t))
    done, bracket, tries = False, None, 0
    while tries < max_ls:  # bracketing phase
        sufficient = current.f <= f + c1 * current.t * gtd
        if not sufficient or (tries > 1 and current.f >= previous.f):
            bracket = [previous, current]
            break
        if abs(current.gtd) <= -c2 * gtd:
            bracket, done = [current], True
            break
        if current.gtd >= 0:
            bracket = [previous, current]
            break
        span = current.t - previous.t
        t_next = _cubic_minimum(previous.t, previous.f, previous.gtd, current.t, current.f,
                                current.gtd, bounds=(current.t + 0.01 * span, current.t * 10))
        previous = current
        current = _Point(t_next, *evaluate(t_next))
        evaluations += 1
        tries += 1
    if tries == max_ls:
        bracket = [start, current]
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    stuck = False
    while not done and tries < max_ls:  # zoom phase
        a, b = bracket
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        t_next = _cubic_minimum(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        top, bottom = max(a.t, b.t), min(a.t, b.t)
        eps = 0.1 * (top - bottom)
        if min(top - t_next, t_next - bottom) < eps:  # too close to an end: move inwards
            if stuck or t_next >= top or t_next <= bottom:
                t_next = top - eps if abs(t_next - top) < abs(t_next - bottom) else bottom + eps
                stuck = False
            else:
                stuck = True
        else:
            stuck = False
        trial = _Point(t_next, *evaluate(t_next))
        evaluations += 1
        tries += 1
        if trial.f > f + c1 * trial.t * gtd or trial.f >= bracket[low].f:
            bracket[high] = trial
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(trial.gtd) <= -c2 * gtd:
                done = True
            elif trial.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = trial
    best = bracket[low] if len(bracket) > 1 else bracket[0]
    return best.f, best.g, best.t, evaluations


class LBFGS(Optimizer):
    """Limited-memory BFGS. ``step(closure)`` needs a closure that clears the gradients,
    computes the loss, calls backward and returns the loss."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _real(self, value):
        """A host scalar in the parameters' precision: PyTorch keeps these scalars in 0-dim
        tensors of that dtype, and rounding them the same way keeps the two in step."""
        return (np.float64 if self._params[0].dtype.itemsize == 8 else np.float32)(value)

    def _flat_grad(self):
        from ..api.layout import cat
        return cat([p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel())
                    for p in self._params])

    def _add_to_params(self, step, direction):
        offset = 0
        with no_grad():
            for p in self._params:
                n = p.numel()
                p.add_(direction[offset:offset + n].view_as(p), alpha=step)
                offset += n

    def _set_params(self, values):
        with no_grad():
            for p, v in zip(self._params, values):
                p.copy_(v)

    def step(self, closure=None):
        """Up to ``max_iter`` L-BFGS iterations; returns the loss before them."""
        if closure is None:
            raise RuntimeError("LBFGS requires a closure")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            first_loss = closure()
        loss = float(first_loss)
        evaluations = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if flat_grad.abs().max().item() <= tol_grad:
            return first_loss
        d, t = state.get("d"), state.get("t")
        dirs, steps, inverse = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), \
            state.get("prev_loss")
        iteration = 0
        while iteration < max_iter:
            iteration += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, dirs, steps, inverse, h_diag = -flat_grad, [], [], [], 1
            else:
                d, h_diag = self._direction(flat_grad, prev_grad, d, t, dirs, steps, inverse,
                                            h_diag, group["history_size"], self._real)
            prev_grad = flat_grad.clone()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, self._real(1.0) / self._real(flat_grad.abs().sum().item())) * \
                    self._real(lr)
            else:
                t = lr
            gtd = self._real(flat_grad.dot(d).item())
            if gtd > -tol_change:
                break
            if group["line_search_fn"] is not None:
                if group["line_search_fn"] != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                start = [p.detach().clone() for p in self._params]

                def evaluate(step):
                    self._add_to_params(float(step), d)
                    with enable_grad():
                        value = float(closure())
                    grad = self._flat_grad()
                    self._set_params(start)
                    return value, grad, self._real(grad.dot(d).item())
                loss, flat_grad, t, used = _strong_wolfe(evaluate, t, d, loss, flat_grad, gtd)
                self._add_to_params(float(t), d)
                optimal = flat_grad.abs().max().item() <= tol_grad
            else:
                self._add_to_params(float(t), d)
                used, optimal = 0, False
                if iteration != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    optimal = flat_grad.abs().max().item() <= tol_grad
                    used = 1
            evaluations += used
            state["func_evals"] += used
            if iteration == max_iter or evaluations >= max_eval or optimal:
                break
            if (d * float(t)).abs().max().item() <= tol_change or \
                    abs(loss - prev_loss) < tol_change:
                break
        state.update(d=d, t=t, old_dirs=dirs, old_stps=steps, ro=inverse, H_diag=h_diag,
                     prev_flat_grad=prev_grad, prev_loss=prev_loss)
        return first_loss

    @staticmethod
    def _direction(flat_grad, prev_grad, d, t, dirs, steps, inverse, h_diag, history, real):
        """The two-loop recursion: -H g from the stored curvature pairs (after adding the
        newest pair when its curvature is positive)."""
        y = flat_grad - prev_grad
        s = d * float(t)
        ys = real(y.dot(s).item())
        if ys > 1e-10:
            if len(dirs) == history:
                dirs.pop(0), steps.pop(0), inverse.pop(0)
            dirs.append(y)
            steps.append(s)
            inverse.append(real(1.0) / ys)
            h_diag = ys / real(y.dot(y).item())
        alphas = [real(0.0)] * len(dirs)
        q = -flat_grad
        for i in range(len(dirs) - 1, -1, -1):
            alphas[i] = real(steps[i].dot(q).item()) * inverse[i]
            q = q.add(dirs[i], alpha=float(-alphas[i]))
        r = q * float(h_diag)
        for i in range(len(dirs)):
            beta = real(dirs[i].dot(r).item()) * inverse[i]
            r = r.add(steps[i], alpha=float(alphas[i] - beta))
        return r, h_diag
