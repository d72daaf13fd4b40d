"""The pointwise API: ``cltorch.op`` functions, ``Tensor.op`` methods, ``op_`` in-place methods
and Python operators, all from the one op table in ``ops.pointwise_table``."""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..autograd import inplace
from ..autograd.graph import needs_grad, record
from ..ops import pointwise
from ..ops.pointwise_table import TABLE
from ..tensor import Tensor

FUNCTIONS = {}   # public name -> function(input, ..., out=None)
INPLACE = set()  # names that also get a Tensor.name_ method


def _register(names, fn, inplace=True):
    for name in names.split():
        FUNCTIONS[name] = fn
        if inplace:
            INPLACE.add(name)
    return fn


def _apply(name, operands, out=None):
    op = TABLE[name]
    if out is None:
        result = pointwise.apply(op, operands)
        if op.grad is not None and needs_grad(operands):
            _record(op, result, operands)
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out is operands[0] and op.grad is not None and inplace.tracked(out, operands[1:]):
        # in place under autograd: compute out of place (from a copy of self when the
        # derivative needs self's old value), then write it in
        saves = op.grad[0]
        kept = [x.clone() if k in saves and isinstance(x, Tensor) and
                x._storage is out._storage else x for k, x in zip("abcd", operands)]
        return inplace.write(out, lambda: _apply(name, kept))
    if needs_grad(operands):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           f"differentiation, but one of the arguments requires grad.")
    return pointwise.apply(op, operands, out=out)


class _Saved:
    """The saved operands of a pointwise node, as ``s.a``..``s.d`` and ``s.out``; ``s.row``
    applies another row of the table (a derivative that is one kernel, like relu's)."""

    def __init__(self, letters, values):
        self.__dict__.update(zip(letters, values))

    @staticmethod
    def row(name, *operands):
        return _apply(name, list(operands))


def _record(op, result, operands):
    saves, derivative = op.grad
    letters = [k for k in "abcd"[:len(operands)] if k in saves] + (["out"] if "o" in saves
                                                                  else [])
    saved = [operands["abcd".index(k)] for k in letters if k != "out"]
    arity = len(operands)
    record(result, _NODE_NAMES[op.name], operands,
           lambda g, *values: derivative(g, _Saved(letters, values))[:arity],
           saved=saved, save_outputs="o" in saves)


_NODE_NAMES = {op: "".join(part.capitalize() for part in op.split("_")) + "Backward0"
               for op in TABLE}
_NODE_NAMES.update(copy="ToCopyBackward0", div_trunc="DivBackward1", div_floor="DivBackward2")


def _unary(row):
    def fn(input, *, out=None):
        return _apply(row, [input], out)
    fn.__doc__ = f"Elementwise ``{row}`` of ``input``, computed on its device."
    return fn


def _binary(row):
    def fn(input, other, *, out=None):
        return _apply(row, [input, other], out)
    fn.__doc__ = f"Elementwise ``{row}`` of ``input`` and ``other`` (broadcast, promoted)."
    return fn


for _names in ("abs absolute", "sign", "reciprocal", "square", "sqrt", "rsqrt", "exp", "exp2", "expm1",
               "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin arcsin", "acos arccos",
               "atan arctan", "sinh", "cosh", "tanh", "asinh arcsinh", "acosh arccosh",
               "atanh arctanh", "sigmoid", "relu", "erf", "erfc", "floor", "ceil", "trunc fix",
               "frac", "logical_not", "bitwise_not"):
    _register(_names, _unary(_names.split()[0]))
for _names in ("isnan", "isinf", "isfinite"):
    _register(_names, _unary(_names), inplace=False)
for _names in ("mul multiply", "remainder", "fmod", "atan2 arctan2", "maximum", "minimum", "fmax",
               "fmin", "eq", "ne not_equal", "lt less", "le less_equal", "gt greater",
               "ge greater_equal", "logical_and", "logical_or", "logical_xor", "bitwise_and",
               "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"):
    _register(_names, _binary(_names.split()[0]))
_register("floor_divide", _binary("div_floor"))


def _is_bool(x) -> bool:
    return x.dtype is dtypes.bool_ if isinstance(x, Tensor) else isinstance(x, bool)


def _integral(x) -> bool:
    return x.dtype.category < 2 if isinstance(x, Tensor) else not isinstance(x, float)


def _check_alpha(input, other, alpha):
    if isinstance(alpha, float) and _integral(input) and _integral(other):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating "
                           "point number.")


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other``, broadcast and type-promoted as in PyTorch."""
    _check_alpha(input, other, alpha)
    return _apply("add", [input, other, alpha], out)


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``; bool tensors are refused as PyTorch refuses them."""
    if _is_bool(input) and _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if _is_bool(input) or _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    _check_alpha(input, other, alpha)
    return _apply("sub", [input, other, alpha], out)


def rsub(input, other, *, alpha=1, out=None):
    """``other - alpha * input``."""
    return sub(other, input, alpha=alpha, out=out)


def div(input, other, *, rounding_mode=None, out=None):
    """True division, or rounded with ``rounding_mode`` ``'trunc'`` or ``'floor'``."""
    rows = {None: "div", "trunc": "div_trunc", "floor": "div_floor"}
    if rounding_mode not in rows:
        raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                           f"but found '{rounding_mode}'")
    return _apply(rows[rounding_mode], [input, other], out)


def true_divide(input, other, *, out=None):
    return div(input, other, out=out)


def pow(input, exponent, *, out=None):
    """``input ** exponent``; either may be a Python number."""
    if isinstance(input, Tensor) and input.dtype.category < 2 and \
            isinstance(exponent, numbers.Integral) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if isinstance(input, Tensor) and not isinstance(exponent, bool) and \
            isinstance(exponent, (int, float)) and exponent == 2 and \
            (input.dtype.category == 2 or isinstance(exponent, int) and input.dtype.category == 1):
        # x * x, as PyTorch and NumPy compute a square: exact where OpenCL's pow may be 16 ulp
        # off, and 170 ns an element on PoCL (a call to its pow) where x * x takes 1.5
        return _apply("square", [input], out)
    return _apply("pow", [input, exponent], out)


def neg(input, *, out=None):
    """``-input``."""
    if _is_bool(input):
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return _apply("neg", [input], out)


def clamp(input, min=None, max=None, *, out=None):
    """Limit ``input`` to [min, max]; bounds may be numbers or tensors, NaN propagates."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(input, Tensor) and input.dtype.is_floating_point:
        # one bound: an infinite other one, so that the gradient at the bound is PyTorch's
        # (it passes, unlike maximum's tie split)
        inf = float("inf")
        return _apply("clamp", [input, -inf if min is None else min,
                                inf if max is None else max], out)
    if max is None:
        return _apply("maximum", [input, min], out)
    if min is None:
        return _apply("minimum", [input, max], out)
    return _apply("clamp", [input, min, max], out)


def clamp_min(input, min, *, out=None):
    return clamp(input, min=min, out=out)


def clamp_max(input, max, *, out=None):
    return clamp(input, max=max, out=out)


def lerp(input, end, weight, *, out=None):
    """``input + weight * (end - input)``; ``weight`` a number or a tensor."""
    return _apply("lerp", [input, end, weight], out)


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """``input + value * tensor1 * tensor2``."""
    return _apply("addcmul", [input, tensor1, tensor2, value], out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """``input + value * tensor1 / tensor2`` (floating point only, as in PyTorch)."""
    return _apply("addcdiv", [input, tensor1, tensor2, value], out)


def where(condition, input=None, other=None, *, out=None):
    """``input`` where ``condition`` is True, else ``other``; ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if not isinstance(condition, Tensor) or condition.dtype is not dtypes.bool_:
        name = condition.dtype.legacy_name if isinstance(condition, Tensor) else \
            type(condition).__name__
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {name}")
    return _apply("where", [condition, input, other], out)


def round(input, *, decimals=0, out=None):
    """Round half to even; with ``decimals``, to that many decimal places."""
    if decimals == 0:
        return _apply("round", [input], out)
    return _apply("round_decimals", [input, 10.0 ** abs(decimals), float(decimals < 0)], out)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """Replace NaN, +inf and -inf by finite numbers (default: the dtype's extremes)."""
    if input.dtype.category < 2:
        return input.clone() if out is None else out.copy_(input)
    finfo = np.finfo(np.float32 if input.dtype is dtypes.bfloat16 else input.dtype.numpy)
    big = 3.3895313892515355e38 if input.dtype is dtypes.bfloat16 else float(finfo.max)
    return _apply("nan_to_num", [input, nan, big if posinf is None else posinf,
                                 -big if neginf is None else neginf], out)


for _fn, _names in ((add, "add"), (sub, "sub subtract"), (div, "div divide"),
                    (true_divide, "true_divide"), (pow, "pow"), (neg, "neg negative"),
                    (clamp, "clamp clip"), (clamp_min, "clamp_min"), (clamp_max, "clamp_max"),
                    (lerp, "lerp"), (addcmul, "addcmul"), (addcdiv, "addcdiv"),
                    (round, "round"), (nan_to_num, "nan_to_num")):
    _register(_names, _fn)
_register("where", where, inplace=False)
_register("rsub", rsub, inplace=False)


def _tensor_where(self, condition, other):
    return where(condition, self, other)


def _inplace(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, out=self, **kwargs)
    method.__doc__ = f"In-place version of :func:`{fn.__name__}`."
    return method


def _operators():
    ops = {"add": add, "sub": sub, "mul": FUNCTIONS["mul"], "truediv": div,
           "floordiv": FUNCTIONS["floor_divide"], "mod": FUNCTIONS["remainder"], "pow": pow,
           "and": FUNCTIONS["bitwise_and"], "or": FUNCTIONS["bitwise_or"],
           "xor": FUNCTIONS["bitwise_xor"], "lshift": FUNCTIONS["bitwise_left_shift"],
           "rshift": FUNCTIONS["bitwise_right_shift"]}
    table = {}
    for name, fn in ops.items():
        table[f"__{name}__"] = lambda self, other, fn=fn: fn(self, other)
        table[f"__r{name}__"] = lambda self, other, fn=fn: fn(other, self)
        table[f"__i{name}__"] = lambda self, other, fn=fn: fn(self, other, out=self)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        table[f"__{name}__"] = _comparison(FUNCTIONS[name])
    table.update(__neg__=neg, __abs__=FUNCTIONS["abs"], __invert__=FUNCTIONS["bitwise_not"],
                 __pos__=lambda self: self)
    return table


def _comparison(fn):
    def method(self, other):
        if not isinstance(other, (Tensor, numbers.Number)):
            return NotImplemented
        return fn(self, other)
    return method


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (infinities equal themselves)."""
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype!r} did not match {other.dtype!r}")
    a, b = input, other
    close = (a == b)
    if a.dtype.category == 2 or b.dtype.category == 2:
        finite = a.isfinite() & b.isfinite()
        close = close | (finite & ((a - b).abs() <= atol + rtol * b.abs()))
        if equal_nan:
            close = close | (a.isnan() & b.isnan())
    else:
        close = close | ((a - b).abs() <= atol + rtol * b.abs())
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """True when every element is close (see ``isclose``); reads one bool back."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other) -> bool:
    """True when both have the same shape and the same elements."""
    return input.shape == other.shape and bool((input == other).all().item())


def _methods() -> dict:
    """Every function as a Tensor method, with in-place variants and operators."""
    methods = dict(FUNCTIONS, where=_tensor_where)
    methods.update((name + "_", _inplace(FUNCTIONS[name])) for name in INPLACE)
    methods.update(_operators())
    return methods


_WHOLE = {f.__name__: f for f in (isclose, allclose, equal)}  # comparisons of whole tensors
NAMESPACE = dict(FUNCTIONS, **_WHOLE)
METHODS = dict(_methods(), **_WHOLE)
