"""The element-wise update rules of the optimizers, each written once as C (the fused kernel)
and as NumPy (the cpu twin and reference), in the operation order of PyTorch's single-tensor
implementations so that trajectories match. Host-side scalars (bias corrections, 1 - beta)
are computed in double precision before the launch, as PyTorch computes them."""
from __future__ import annotations

import functools

import numpy as np

from ..ops.update import Rule


def _maybe_negate_and_decay(p, g, s):
    g = -g if s["maximize"] else g
    return g + s["wd"] * p if s["wd"] else g


_PRELUDE = "if (maximize != 0) g = -g; if (wd != 0) g = g + wd * p;"


def _moments_numpy(p, g, st, s, decoupled):
    """The Adam family's common start: maximize, weight decay (added to the gradient, or
    decoupled: the parameter shrinks), then the first and second moments."""
    g = -g if s["maximize"] else g
    if decoupled:
        p = p * s["decay"]
    elif s["wd"]:
        g = g + s["wd"] * p
    st["m"] = st["m"] + s["w1"] * (g - st["m"])
    st["v"] = st["v"] * s["beta2"] + s["w2"] * g * g
    return p, g


def _moments_c(decoupled):
    """The C twin of _moments_numpy."""
    return ("if (maximize != 0) g = -g;" +
            ("p = p * decay;" if decoupled else "if (wd != 0) g = g + wd * p;") + """
        m = m + w1 * (g - m);
        v = v * beta2 + w2 * g * g;""")


@functools.lru_cache(maxsize=None)
def sgd(momentum: bool) -> Rule:
    def numpy(p, g, st, s):
        g = _maybe_negate_and_decay(p, g, s)
        if momentum:
            st["buf"] = g.copy() if s["first"] else st["buf"] * s["momentum"] + s["keep"] * g
            g = g + s["momentum"] * st["buf"] if s["nesterov"] else st["buf"]
        return p + s["neg_lr"] * g, st
    body = _PRELUDE + ("""
        buf = (first != 0) ? g : buf * momentum + keep * g;
        g = (nesterov != 0) ? g + momentum * buf : buf;""" if momentum else "") + """
        p = p + neg_lr * g;"""
    scalars = ("maximize", "wd", "neg_lr") + (("momentum", "keep", "nesterov", "first")
                                              if momentum else ())
    return Rule("sgd_momentum" if momentum else "sgd", ("buf",) if momentum else (), scalars,
                body, numpy)


@functools.lru_cache(maxsize=None)
def adam(amsgrad: bool, decoupled: bool) -> Rule:
    """Adam (L2 weight decay in the gradient) or AdamW (decoupled: p *= 1 - lr*wd first)."""
    def numpy(p, g, st, s):
        p, g = _moments_numpy(p, g, st, s, decoupled)
        second = st["v"]
        if amsgrad:
            st["vmax"] = np.maximum(st["vmax"], st["v"])
            second = st["vmax"]
        denom = np.sqrt(second) / s["bc2_sqrt"] + s["eps"]
        return p + s["neg_step"] * (st["m"] / denom), st
    body = _moments_c(decoupled) + ("""
        vmax = ct_max(vmax, v);
        p = p + neg_step * (m / (ct_sqrt(vmax) / bc2_sqrt + eps));""" if amsgrad else """
        p = p + neg_step * (m / (ct_sqrt(v) / bc2_sqrt + eps));""")
    scalars = ("maximize", "decay" if decoupled else "wd", "w1", "beta2", "w2", "bc2_sqrt",
               "eps", "neg_step")
    return Rule(f"adam{'w' if decoupled else ''}{'_amsgrad' if amsgrad else ''}",
                ("m", "v") + (("vmax",) if amsgrad else ()), scalars, body, numpy)


@functools.lru_cache(maxsize=None)
def rmsprop(centered: bool, momentum: bool) -> Rule:
    def numpy(p, g, st, s):
        g = _maybe_negate_and_decay(p, g, s)
        st["sq"] = st["sq"] * s["alpha"] + s["w"] * g * g
        if centered:
            st["avg"] = st["avg"] + s["w"] * (g - st["avg"])
            denom = np.sqrt(st["sq"] + -1.0 * st["avg"] * st["avg"]) + s["eps"]
        else:
            denom = np.sqrt(st["sq"]) + s["eps"]
        if momentum:
            st["buf"] = st["buf"] * s["momentum"] + g / denom
            return p + s["neg_lr"] * st["buf"], st
        return p + s["neg_lr"] * (g / denom), st
    body = _PRELUDE + """
        sq = sq * alpha + w * g * g;""" + ("""
        avg = avg + w * (g - avg);
        const ct_real ct_denom = ct_sqrt(sq + -1.0f * avg * avg) + eps;""" if centered else """
        const ct_real ct_denom = ct_sqrt(sq) + eps;""") + ("""
        buf = buf * momentum + g / ct_denom;
        p = p + neg_lr * buf;""" if momentum else """
        p = p + neg_lr * (g / ct_denom);""")
    states = ("sq",) + (("avg",) if centered else ()) + (("buf",) if momentum else ())
    scalars = ("maximize", "wd", "alpha", "w", "eps", "neg_lr") + (
        ("momentum",) if momentum else ())
    return Rule(f"rmsprop{'_centered' if centered else ''}{'_momentum' if momentum else ''}",
                states, scalars, body, numpy)


@functools.lru_cache(maxsize=None)
def adagrad() -> Rule:
    def numpy(p, g, st, s):
        g = _maybe_negate_and_decay(p, g, s)
        st["sum"] = st["sum"] + 1.0 * g * g
        return p + s["neg_clr"] * (g / (np.sqrt(st["sum"]) + s["eps"])), st
    body = _PRELUDE + """
        sum = sum + 1.0f * g * g;
        p = p + neg_clr * (g / (ct_sqrt(sum) + eps));"""
    return Rule("adagrad", ("sum",), ("maximize", "wd", "eps", "neg_clr"), body, numpy)


@functools.lru_cache(maxsize=None)
def adamax() -> Rule:
    def numpy(p, g, st, s):
        g = _maybe_negate_and_decay(p, g, s)
        st["m"] = st["m"] + s["w1"] * (g - st["m"])
        st["u"] = np.maximum(st["u"] * s["beta2"], np.abs(g) + s["eps"])
        return p + s["neg_clr"] * (st["m"] / st["u"]), st
    body = _PRELUDE + """
        m = m + w1 * (g - m);
        u = ct_max(u * beta2, fabs(g) + eps);
        p = p + neg_clr * (m / u);"""
    return Rule("adamax", ("m", "u"), ("maximize", "wd", "w1", "beta2", "eps", "neg_clr"),
                body, numpy)


@functools.lru_cache(maxsize=None)
def nadam(decoupled: bool) -> Rule:
    def numpy(p, g, st, s):
        p, g = _moments_numpy(p, g, st, s, decoupled)
        denom = np.sqrt(st["v"] / s["bc2"]) + s["eps"]
        p = p + s["c_grad"] * (g / denom)
        return p + s["c_avg"] * (st["m"] / denom), st
    body = _moments_c(decoupled) + """
        const ct_real ct_denom = ct_sqrt(v / bc2) + eps;
        p = p + c_grad * (g / ct_denom);
        p = p + c_avg * (m / ct_denom);"""
    return Rule(f"nadam{'w' if decoupled else ''}", ("m", "v"),
                ("maximize", "decay" if decoupled else "wd", "w1", "beta2", "w2", "bc2", "eps",
                 "c_grad", "c_avg"), body, numpy)


@functools.lru_cache(maxsize=None)
def radam(decoupled: bool) -> Rule:
    def numpy(p, g, st, s):
        p, g = _moments_numpy(p, g, st, s, decoupled)
        corrected = st["m"] / s["bc1"]
        if s["rectify"]:
            adaptive = s["bc2_sqrt"] / (np.sqrt(st["v"]) + s["eps"])
            return p + -1.0 * (corrected * s["lr"] * adaptive * s["rect"]), st
        return p + -1.0 * (corrected * s["lr"]), st
    body = _moments_c(decoupled) + """
        const ct_real ct_corrected = m / bc1;
        if (rectify != 0)
            p = p + -1.0f * (ct_corrected * lr * (bc2_sqrt / (ct_sqrt(v) + eps)) * rect);
        else p = p + -1.0f * (ct_corrected * lr);"""
    return Rule(f"radam{'w' if decoupled else ''}", ("m", "v"),
                ("maximize", "decay" if decoupled else "wd", "w1", "beta2", "w2", "bc1",
                 "bc2_sqrt", "eps", "lr", "rectify", "rect"), body, numpy)


@functools.lru_cache(maxsize=None)
def adadelta() -> Rule:
    def numpy(p, g, st, s):
        g = _maybe_negate_and_decay(p, g, s)
        st["sq"] = st["sq"] * s["rho"] + s["w"] * g * g
        std = np.sqrt(st["sq"] + s["eps"])
        delta = np.sqrt(st["acc"] + s["eps"]) / std * g
        st["acc"] = st["acc"] * s["rho"] + s["w"] * delta * delta
        return p + s["neg_lr"] * delta, st
    body = _PRELUDE + """
        sq = sq * rho + w * g * g;
        ct_real ct_delta = ct_sqrt(acc + eps) / ct_sqrt(sq + eps);
        ct_delta = ct_delta * g;
        acc = acc * rho + w * ct_delta * ct_delta;
        p = p + neg_lr * ct_delta;"""
    return Rule("adadelta", ("sq", "acc"), ("maximize", "wd", "rho", "w", "eps", "neg_lr"),
                body, numpy)


@functools.lru_cache(maxsize=None)
def rprop() -> Rule:
    def numpy(p, g, st, s):
        g = -g if s["maximize"] else g
        sign = np.sign(g * st["prev"])
        factor = np.where(sign > 0, s["etaplus"], np.where(sign < 0, s["etaminus"],
                                                           np.ones_like(sign)))
        st["size"] = np.minimum(np.maximum(st["size"] * factor, s["smin"]), s["smax"])
        g = np.where(factor == s["etaminus"], np.zeros_like(g), g)
        st["prev"] = g
        return p + -1.0 * np.sign(g) * st["size"], st
    body = """if (maximize != 0) g = -g;
        const ct_real ct_s = ct_sign(g * prev);
        const ct_real ct_f = ct_s > 0 ? etaplus : (ct_s < 0 ? etaminus : (ct_real)1);
        size = size * ct_f;
        size = size < smin ? smin : size;
        size = size > smax ? smax : size;
        if (ct_f == etaminus) g = 0;
        p = p + -1.0f * ct_sign(g) * size;
        prev = g;"""
    return Rule("rprop", ("prev", "size"), ("maximize", "etaplus", "etaminus", "smin", "smax"),
                body, numpy)


@functools.lru_cache(maxsize=None)
def asgd() -> Rule:
    def numpy(p, g, st, s):
        g = _maybe_negate_and_decay(p, g, s)
        p = p * s["decay"]
        p = p + s["neg_eta"] * g
        st["ax"] = st["ax"] + (p - st["ax"]) * s["mu"] if s["mu"] != 1 else p.copy()
        return p, st
    body = _PRELUDE + """
        p = p * decay;
        p = p + neg_eta * g;
        ax = (mu != 1) ? ax + (p - ax) * mu : p;"""
    return Rule("asgd", ("ax",), ("maximize", "wd", "decay", "neg_eta", "mu"), body, numpy)
