"""The pointwise op table: one row per op.

A row's C expression (over the operands a, b, c, d, already converted to the compute type)
becomes the kernel; its NumPy function, applied to the same compute-typed values, is the CPU
fallback and the reference. ``rule`` gives the result dtype from the promoted operands:
``same`` (the promoted dtype), ``float`` (integers become the default float), ``bool``,
``int`` (integers and bool only), ``floatonly`` (floating point only), ``copy`` (the out dtype).
Where integer and floating point differ, ``expr`` and ``numpy`` are dicts keyed by
``float``/``int``/``bool``.

``grad`` is the derivative: (the operands it needs saved, a subset of "abcd" plus "o" for the
result; a function of the output gradient ``g`` and the saved values ``s.a``..``s.d``, ``s.out``
returning one gradient per operand, None where there is none). It is written with Tensor
methods and ``s.row(name, *operands)`` (another row of this table, recorded as a graph op),
so that gradients can be differentiated again; broadcasting and dtypes are undone by
the autograd engine. Rows without ``grad`` are not differentiable (their results are integers
or bools).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .array import is_array


@dataclass(frozen=True, eq=False)
class Op:
    name: str
    arity: int
    expr: object          # str or {"float"|"int"|"bool": str}
    numpy: object         # callable or {"float"|"int"|"bool": callable}
    rule: str = "same"
    promote: tuple = ()   # operands that take part in type promotion (() means all)
    grad: tuple = None    # (saved operands, fn(g, s) -> gradients), see the module docstring

    def variant(self, field, key):
        """The expression or NumPy function for a compute category key."""
        value = getattr(self, field)
        if not isinstance(value, dict):
            return value
        return value.get(key) or value["int" if key == "bool" else key]


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _zero_division_check(b):
    if np.any(np.asarray(b) == 0):
        raise RuntimeError("ZeroDivisionError")


def _int_floordiv(a, b):
    _zero_division_check(b)
    return np.floor_divide(a, b)


def _int_divtrunc(a, b):
    _zero_division_check(b)
    q = np.floor_divide(a, b)
    return q + ((np.remainder(a, b) != 0) & ((np.asarray(a) < 0) != (np.asarray(b) < 0)))


def _int_remainder(a, b):
    _zero_division_check(b)
    return np.remainder(a, b)


def _int_fmod(a, b):
    _zero_division_check(b)
    return np.fmod(a, b)


def _int_pow(a, b):
    a, b = np.broadcast_arrays(a, b)
    negative = b < 0
    r = np.power(a, np.where(negative, 0, b))
    small = np.where(a == 1, 1, np.where(a == -1, np.where(b & 1, -1, 1), 0))
    return np.where(negative, small, r)


def _shift(left):
    def shift(a, b):
        bits = np.asarray(a).dtype.itemsize * 8
        out_of_range = (np.asarray(b) < 0) | (np.asarray(b) >= bits)
        clipped = np.clip(b, 0, bits - 1)
        if left:
            return np.where(out_of_range, 0, np.left_shift(a, clipped))
        negative = np.asarray(a) < 0
        return np.where(out_of_range, np.where(negative, -1, 0), np.right_shift(a, clipped))
    return shift


_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _threshold_backward(a, b):
    """``a`` where ``b`` > 0 (or NaN), else 0. Same-shaped floats take a bit mask, each word
    ANDed with all ones or zero (exact, NaN and inf included; NumPy's ``where`` is 3x
    slower)."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
            and a.dtype.kind == "f" and a.flags.c_contiguous):
        return np.where(b <= 0, 0, a)
    words = np.dtype(f"i{a.dtype.itemsize}")
    mask = np.less_equal(b, 0).astype(words)
    mask -= 1  # 0 where b <= 0, all ones elsewhere
    return np.bitwise_and(a.view(words), mask, out=mask).view(a.dtype)


def _special(fn):
    return lambda a: fn(a).astype(np.asarray(a).dtype)


def _lerp(a, b, w):
    return np.where(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def _round_decimals(a, scale, negative):
    return np.rint(a / scale) * scale if negative else np.rint(a * scale) / scale


def _same(a):
    return a


def _float_int(float_expr, int_expr):
    return {"float": float_expr, "int": int_expr}


_LN2, _LN10, _2_SQRTPI = math.log(2.0), math.log(10.0), 2.0 / math.sqrt(math.pi)


def _zero(g, s):
    """The derivative of a step function (floor, round, sign...): zero."""
    return (g.new_zeros(g.shape),) + (None,) * 3


def _pow_grad(g, s):
    a, b = s.a, s.b
    da = db = None
    if is_array(a):
        da = g * b * a ** (b - 1)
        if is_array(b):
            da = da.masked_fill(b == 0, 0.0)
        elif b == 0:
            da = g.new_zeros(g.shape)
    if is_array(b):
        db = (g * s.out * (a.log() if is_array(a) else math.log(a)))
        if is_array(a):
            db = db.masked_fill((a == 0) & (b >= 0), 0.0)
    return da, db


def _extreme_grad(pick):
    """maximum/minimum: the larger (smaller) operand gets the gradient, ties share it."""
    def grad(g, s):
        a, b = s.a, s.b
        tie = a == b
        first = pick(a, b) | tie
        half = g.where(~tie, g / 2)
        return half.masked_fill(~first, 0.0), half.masked_fill(first & ~tie, 0.0)
    return grad


def _fextreme_grad(greater):
    """fmax/fmin: like maximum/minimum, and a NaN operand passes the gradient to the other."""
    def grad(g, s):
        a, b = s.a, s.b
        first = ((a >= b) if greater else (a <= b)) | b.isnan()
        return g.masked_fill(~first, 0.0), g.masked_fill(first, 0.0)
    return grad


def _clamp_grad(g, s):
    a, low, high = s.a, s.b, s.c
    inside = (a >= low) & (a <= high)
    dlow = g.masked_fill(~(a < low), 0.0) if is_array(low) else None
    dhigh = g.masked_fill(~(a > high), 0.0) if is_array(high) else None
    return g.masked_fill(~inside, 0.0), dlow, dhigh


def _lerp_grad(g, s):
    a, b, w = s.a, s.b, s.c
    dw = g * (b - a) if is_array(w) else None
    return g * (1 - w), g * w, dw


OPS = [
    # arithmetic
    Op("copy", 1, "a", _same, "copy", grad=("", lambda g, s: (g,))),
    Op("add", 3, "a + c * b", lambda a, b, c: a + b if c == 1 else a + c * b, promote=(0, 1),
       grad=("c", lambda g, s: (g, g if s.c == 1 else g * s.c, None))),
    Op("sub", 3, "a - c * b", lambda a, b, c: a - b if c == 1 else a - c * b, promote=(0, 1),
       grad=("c", lambda g, s: (g, -g if s.c == 1 else g * -s.c, None))),
    Op("mul", 2, "a * b", np.multiply, grad=("ab", lambda g, s: (g * s.b, g * s.a))),
    Op("div", 2, "a / b", np.true_divide, "float",
       grad=("ab", lambda g, s: (g / s.b, -g * s.a / (s.b * s.b)))),
    Op("div_trunc", 2, _float_int("trunc(a / b)", "ct_div_trunc(a, b)"),
       _float_int(lambda a, b: np.trunc(a / b), _int_divtrunc),
       grad=("", _zero)),
    Op("div_floor", 2, "ct_floordiv(a, b)", _float_int(np.floor_divide, _int_floordiv),
       grad=("", _zero)),
    Op("remainder", 2, "ct_remainder(a, b)", _float_int(np.remainder, _int_remainder),
       grad=("ab", lambda g, s: (g, -g * (s.a / s.b).floor() if is_array(s.b) else None))),
    Op("fmod", 2, _float_int("fmod(a, b)", "ct_fmod(a, b)"), _float_int(np.fmod, _int_fmod),
       grad=("ab", lambda g, s: (g, -g * (s.a / s.b).trunc() if is_array(s.b) else None))),
    Op("pow", 2, _float_int("pow(a, b)", "ct_ipow(a, b)"), _float_int(np.power, _int_pow),
       grad=("abo", _pow_grad)),
    Op("atan2", 2, "atan2(a, b)", np.arctan2, "float",
       grad=("ab", lambda g, s: (g * s.b / (s.a * s.a + s.b * s.b), -g * s.a / (s.a * s.a + s.b * s.b)))),
    Op("maximum", 2, "ct_max(a, b)", np.maximum,
       grad=("ab", _extreme_grad(lambda a, b: a > b))),
    Op("minimum", 2, "ct_min(a, b)", np.minimum,
       grad=("ab", _extreme_grad(lambda a, b: a < b))),
    Op("fmax", 2, _float_int("fmax(a, b)", "ct_max(a, b)"), np.fmax,
       grad=("ab", _fextreme_grad(True))),
    Op("fmin", 2, _float_int("fmin(a, b)", "ct_min(a, b)"), np.fmin,
       grad=("ab", _fextreme_grad(False))),
    Op("clamp", 3, "ct_min(ct_max(a, b), c)", lambda a, b, c: np.minimum(np.maximum(a, b), c),
       grad=("abc", _clamp_grad)),
    Op("lerp", 3, "ct_lerp(a, b, c)", _lerp, "floatonly",
       grad=("abc", _lerp_grad)),
    Op("addcmul", 4, "a + d * b * c", lambda a, b, c, d: a + d * b * c, promote=(0, 1, 2),
       grad=("bcd", lambda g, s: (g, g * s.c * s.d, g * s.b * s.d, None))),
    Op("addcdiv", 4, "a + d * (b / c)", lambda a, b, c, d: a + d * (b / c), "floatonly",
       promote=(0, 1, 2),
       grad=("bcd", lambda g, s: (g, g * s.d / s.c, -g * s.d * s.b / (s.c * s.c), None))),
    Op("where", 3, "(a != 0) ? b : c", lambda a, b, c: np.where(a != 0, b, c), promote=(1, 2),
       grad=("a", lambda g, s: (None, g.masked_fill(~s.a, 0.0), g.masked_fill(s.a, 0.0)))),
    # unary
    Op("neg", 1, "-a", np.negative,
       grad=("", lambda g, s: (-g,))),
    Op("abs", 1, _float_int("ct_abs(a)", "(a < 0 ? -a : a)"), np.abs,
       grad=("a", lambda g, s: (g * s.a.sign(),))),
    Op("sign", 1, "ct_sign(a)", lambda a: np.sign(np.nan_to_num(a, nan=0)),
       grad=("", _zero)),
    Op("reciprocal", 1, "1 / a", np.reciprocal, "float",
       grad=("o", lambda g, s: (-g * s.out * s.out,))),
    Op("square", 1, "a * a", np.square,
       grad=("a", lambda g, s: (2 * g * s.a,))),
    Op("sqrt", 1, "ct_sqrt(a)", np.sqrt, "float",
       grad=("o", lambda g, s: (g / (2 * s.out),))),
    Op("rsqrt", 1, "rsqrt(a)", lambda a: 1 / np.sqrt(a), "float",
       grad=("o", lambda g, s: (-0.5 * g * s.out ** 3,))),
    Op("exp", 1, "exp(a)", np.exp, "float",
       grad=("o", lambda g, s: (g * s.out,))),
    Op("exp2", 1, "exp2(a)", np.exp2, "float",
       grad=("o", lambda g, s: (g * s.out * _LN2,))),
    Op("expm1", 1, "expm1(a)", np.expm1, "float",
       grad=("o", lambda g, s: (g * (s.out + 1),))),
    Op("log", 1, "log(a)", np.log, "float",
       grad=("a", lambda g, s: (g / s.a,))),
    Op("log2", 1, "log2(a)", np.log2, "float",
       grad=("a", lambda g, s: (g / (s.a * _LN2),))),
    Op("log10", 1, "log10(a)", np.log10, "float",
       grad=("a", lambda g, s: (g / (s.a * _LN10),))),
    Op("log1p", 1, "log1p(a)", np.log1p, "float",
       grad=("a", lambda g, s: (g / (s.a + 1),))),
    Op("sin", 1, "sin(a)", np.sin, "float",
       grad=("a", lambda g, s: (g * s.a.cos(),))),
    Op("cos", 1, "cos(a)", np.cos, "float",
       grad=("a", lambda g, s: (-g * s.a.sin(),))),
    Op("tan", 1, "tan(a)", np.tan, "float",
       grad=("o", lambda g, s: (g * (1 + s.out * s.out),))),
    Op("asin", 1, "asin(a)", np.arcsin, "float",
       grad=("a", lambda g, s: (g * (1 - s.a * s.a).rsqrt(),))),
    Op("acos", 1, "acos(a)", np.arccos, "float",
       grad=("a", lambda g, s: (-g * (1 - s.a * s.a).rsqrt(),))),
    Op("atan", 1, "atan(a)", np.arctan, "float",
       grad=("a", lambda g, s: (g / (1 + s.a * s.a),))),
    Op("sinh", 1, "sinh(a)", np.sinh, "float",
       grad=("a", lambda g, s: (g * s.a.cosh(),))),
    Op("cosh", 1, "cosh(a)", np.cosh, "float",
       grad=("a", lambda g, s: (g * s.a.sinh(),))),
    Op("tanh", 1, "tanh(a)", np.tanh, "float",
       grad=("o", lambda g, s: (s.row("tanh_backward", g, s.out),))),
    # tanh's gradient in one pass (PyTorch's tanh_backward): a (1 - b^2), b = tanh's result
    Op("tanh_backward", 2, "a * (1 - b * b)", lambda a, b: a * (1 - b * b), promote=(0,),
       grad=("ab", lambda g, s: (s.row("tanh_backward", g, s.b), -2 * g * s.a * s.b))),
    Op("asinh", 1, "asinh(a)", np.arcsinh, "float",
       grad=("a", lambda g, s: (g * (s.a * s.a + 1).rsqrt(),))),
    Op("acosh", 1, "acosh(a)", np.arccosh, "float",
       grad=("a", lambda g, s: (g * (s.a * s.a - 1).rsqrt(),))),
    Op("atanh", 1, "atanh(a)", np.arctanh, "float",
       grad=("a", lambda g, s: (g / (1 - s.a * s.a),))),
    Op("sigmoid", 1, "ct_sigmoid(a)", _sig, "float",
       grad=("o", lambda g, s: (g * s.out * (1 - s.out),))),
    Op("relu", 1, "(a <= 0) ? 0 : a", lambda a: np.maximum(a, 0),  # keeps NaN; 3x where's speed
       grad=("o", lambda g, s: (s.row("threshold_backward", g, s.out),))),
    # relu's gradient in one pass (PyTorch's threshold_backward): ``a`` where ``b`` > 0
    Op("threshold_backward", 2, "(b <= 0) ? 0 : a", _threshold_backward,
       promote=(0,), grad=("b", lambda g, s: (s.row("threshold_backward", g, s.b), None))),
    Op("erf", 1, "erf(a)", _special(_erf), "float",
       grad=("a", lambda g, s: (g * _2_SQRTPI * (-s.a * s.a).exp(),))),
    Op("erfc", 1, "erfc(a)", _special(_erfc), "float",
       grad=("a", lambda g, s: (-g * _2_SQRTPI * (-s.a * s.a).exp(),))),
    Op("floor", 1, _float_int("floor(a)", "a"), _float_int(np.floor, _same),
       grad=("", _zero)),
    Op("ceil", 1, _float_int("ceil(a)", "a"), _float_int(np.ceil, _same),
       grad=("", _zero)),
    Op("round", 1, _float_int("rint(a)", "a"), _float_int(np.rint, _same),
       grad=("", _zero)),
    Op("round_decimals", 3, _float_int("ct_round_decimals(a, b, c)", "a"),
       _float_int(_round_decimals, lambda a, b, c: a), promote=(0,),
       grad=("", _zero)),
    Op("trunc", 1, _float_int("trunc(a)", "a"), _float_int(np.trunc, _same),
       grad=("", _zero)),
    Op("frac", 1, "a - trunc(a)", lambda a: a - np.trunc(a), "floatonly",
       grad=("", lambda g, s: (g,))),
    Op("nan_to_num", 4, _float_int("ct_nan_to_num(a, b, c, d)", "a"),
       _float_int(lambda a, b, c, d: np.nan_to_num(a, nan=b, posinf=c, neginf=d),
                  lambda a, b, c, d: a), promote=(0,),
       grad=("a", lambda g, s: (g.masked_fill(~s.a.isfinite(), 0.0), None, None, None))),
    # An LSTM step over the pre-activation gates a_i, a_f, a_g, a_o (nn.LSTM's sequence node,
    # which runs them without autograd): the new cell state sig(a_f) c + sig(a_i) tanh(a_g),
    # the output sig(a_o) tanh(c), and the backward's gradients (PyTorch's fused cell kernels)
    Op("lstm_cell", 4, "ct_sigmoid(b) * d + ct_sigmoid(a) * tanh(c)",
       lambda a, b, c, d: _sig(b) * d + _sig(a) * np.tanh(c), "floatonly"),
    Op("lstm_output", 2, "ct_sigmoid(a) * tanh(b)", lambda a, b: _sig(a) * np.tanh(b),
       "floatonly"),
    # d + a sig(b) tanh'(c): the cell state's gradient (a = dh, b = a_o, c = the cell state,
    # d = the next step's) and, with d = 0, a_g's (a = dc, b = a_i, c = a_g)
    Op("lstm_tanh_grad", 4, "d + a * ct_sigmoid(b) * (1 - tanh(c) * tanh(c))",
       lambda a, b, c, d: d + a * _sig(b) * (1 - np.tanh(c) ** 2), "floatonly"),
    # a tanh(c) sig'(b): a_i's gradient (dc, a_i, a_g) and a_o's (dh, a_o, cell state)
    Op("lstm_sigmoid_tanh_grad", 3,
       "a * tanh(c) * ct_sigmoid(b) * (1 - ct_sigmoid(b))",
       lambda a, b, c: a * np.tanh(c) * _sig(b) * (1 - _sig(b)), "floatonly"),
    # a c sig'(b): a_f's gradient (dc, a_f, previous cell state)
    Op("lstm_sigmoid_grad", 3, "a * c * ct_sigmoid(b) * (1 - ct_sigmoid(b))",
       lambda a, b, c: a * c * _sig(b) * (1 - _sig(b)), "floatonly"),
    # a sig(b): the previous cell state's gradient (dc, a_f) in an LSTM, h's part in a GRU's
    Op("mul_sigmoid", 2, "a * ct_sigmoid(b)", lambda a, b: a * _sig(b), "floatonly"),
    # A GRU step over the input parts a_r, a_z, a_n and hidden parts h_r, h_z, h_n (bias
    # included) of its gates (nn.GRU's sequence node): the candidate
    # tanh(a_n + sig(a_r + h_r) h_n), the output (1 - sig(s)) n + sig(s) h with s = a_z + h_z,
    # and the backward's gradients
    Op("gru_candidate", 4, "tanh(a + ct_sigmoid(b + c) * d)",
       lambda a, b, c, d: np.tanh(a + _sig(b + c) * d), "floatonly"),
    Op("gru_output", 4, "(1 - ct_sigmoid(a + b)) * c + ct_sigmoid(a + b) * d",
       lambda a, b, c, d: (1 - _sig(a + b)) * c + _sig(a + b) * d, "floatonly"),
    # s's gradient a (c - d) sig'(b): a = dh, b = s, c = the previous h, d = the candidate
    Op("gru_update_grad", 4, "a * (c - d) * ct_sigmoid(b) * (1 - ct_sigmoid(b))",
       lambda a, b, c, d: a * (c - d) * _sig(b) * (1 - _sig(b)), "floatonly"),
    # the candidate's pre-activation gradient a (1 - sig(b)) (1 - c^2): dh, s, the candidate
    Op("gru_candidate_grad", 3, "a * (1 - ct_sigmoid(b)) * (1 - c * c)",
       lambda a, b, c: a * (1 - _sig(b)) * (1 - c * c), "floatonly"),
    # h_n's gradient a sig(b + c) (a = the candidate's, b + c = the reset gate's input) and
    # the reset gate's a d sig'(b + c) (d = h_n)
    Op("gru_hidden_grad", 3, "a * ct_sigmoid(b + c)", lambda a, b, c: a * _sig(b + c),
       "floatonly"),
    Op("gru_reset_grad", 4, "a * d * ct_sigmoid(b + c) * (1 - ct_sigmoid(b + c))",
       lambda a, b, c, d: a * d * _sig(b + c) * (1 - _sig(b + c)), "floatonly"),
    # comparisons and predicates
    Op("eq", 2, "a == b", np.equal, "bool"),
    Op("ne", 2, "a != b", np.not_equal, "bool"),
    Op("lt", 2, "a < b", np.less, "bool"),
    Op("le", 2, "a <= b", np.less_equal, "bool"),
    Op("gt", 2, "a > b", np.greater, "bool"),
    Op("ge", 2, "a >= b", np.greater_equal, "bool"),
    Op("isnan", 1, _float_int("a != a", "0"), np.isnan, "bool"),
    Op("isinf", 1, _float_int("isinf(a)", "0"), np.isinf, "bool"),
    Op("isfinite", 1, _float_int("isfinite(a)", "1"), np.isfinite, "bool"),
    Op("logical_and", 2, "(a != 0) && (b != 0)", np.logical_and, "bool"),
    Op("logical_or", 2, "(a != 0) || (b != 0)", np.logical_or, "bool"),
    Op("logical_xor", 2, "(a != 0) != (b != 0)", np.logical_xor, "bool"),
    Op("logical_not", 1, "a == 0", np.logical_not, "bool"),
    # bitwise (integers and bool)
    Op("bitwise_and", 2, "a & b", np.bitwise_and, "int"),
    Op("bitwise_or", 2, "a | b", np.bitwise_or, "int"),
    Op("bitwise_xor", 2, "a ^ b", np.bitwise_xor, "int"),
    Op("bitwise_not", 1, {"int": "~a", "bool": "!a"},
       {"int": np.invert, "bool": np.logical_not}, "int"),
    Op("bitwise_left_shift", 2, "ct_shl(a, b)", _shift(True), "int"),
    Op("bitwise_right_shift", 2, "ct_shr(a, b)", _shift(False), "int"),
]

TABLE = {op.name: op for op in OPS}
