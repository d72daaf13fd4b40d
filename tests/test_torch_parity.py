"""PyTorch is the specification: where it is installed, every pointwise function, the type
promotion rules and printing are compared with it on every device."""
import math

import numpy as np
import pytest
from conftest import assert_close

import cltorch
from cltorch.api.pointwise import FUNCTIONS

torch = pytest.importorskip("torch")

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 3.0, -7.0, 1e-3, 100.0]
TERNARY = {"lerp", "addcmul", "addcdiv", "clamp", "clip", "where"}
SKIP = {"rsub"}


def _arity(name):
    if name in TERNARY:
        return 3
    one = {"abs", "absolute", "sign", "reciprocal", "sqrt", "rsqrt", "exp", "exp2", "expm1",
           "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin", "arcsin", "acos",
           "arccos", "atan", "arctan", "sinh", "cosh", "tanh", "asinh", "arcsinh", "acosh",
           "arccosh", "atanh", "arctanh", "sigmoid", "relu", "erf", "erfc", "floor", "ceil",
           "trunc", "fix", "frac", "logical_not", "bitwise_not", "isnan", "isinf", "isfinite",
           "neg", "negative", "round", "nan_to_num", "clamp_min", "clamp_max"}
    return 1 if name in one else 2


def _call(module, name, tensors):
    if name in ("clamp_min", "clamp_max"):
        return getattr(module, name)(tensors[0], -1.0)
    if name == "where":
        return module.where(tensors[0] > 0, tensors[1], tensors[2])
    return getattr(module, name)(*tensors)


def _inputs(dtype_name, arity):
    rng = np.random.default_rng(7)
    if dtype_name == "float32":
        cols = [np.array(SPECIAL, np.float32)] + \
            [rng.permutation(np.array(SPECIAL, np.float32)) for _ in range(arity - 1)]
    else:
        cols = [rng.integers(-9, 10, 13).astype(np.int64) for _ in range(arity)]
        if arity > 1:
            cols[1] = np.where(cols[1] == 0, 3, cols[1])
            cols[1] = np.abs(cols[1]) % 5 + 1  # small shifts, no division by zero
    return cols


NAMES = sorted(set(FUNCTIONS) - SKIP)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
@pytest.mark.parametrize("name", NAMES)
def test_function_matches_torch(device, name, dtype):
    cols = _inputs(dtype, _arity(name))
    try:
        want = _call(torch, name, [torch.from_numpy(c.copy()) for c in cols])
    except (RuntimeError, TypeError) as err:  # PyTorch refuses: so must we, in its type
        with pytest.raises(type(err)):
            _call(cltorch, name, [cltorch.tensor(c, device=device) for c in cols])
        return
    got = _call(cltorch, name, [cltorch.tensor(c, device=device) for c in cols])
    assert got.dtype.name == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
    assert got.shape == tuple(want.shape)
    assert_close(got, want.numpy())


DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
          "float64"]


def test_promote_types_matches_torch():
    for a in DTYPES:
        for b in DTYPES:
            got = cltorch.promote_types(getattr(cltorch, a), getattr(cltorch, b))
            want = torch.promote_types(getattr(torch, a), getattr(torch, b))
            assert repr(got) == str(want), (a, b)


@pytest.mark.parametrize("scalar", [True, 2, 2.5])
def test_result_type_with_scalars_and_zero_dim_matches_torch(scalar):
    for a in DTYPES:
        t, c = torch.zeros(2, dtype=getattr(torch, a)), cltorch.zeros(2, dtype=getattr(cltorch, a))
        assert repr(cltorch.result_type(c, scalar)) == str(torch.result_type(t, scalar))
        for b in DTYPES:
            z = torch.zeros((), dtype=getattr(torch, b))
            cz = cltorch.zeros((), dtype=getattr(cltorch, b))
            assert repr(cltorch.result_type(c, cz)) == str(torch.result_type(t, z)), (a, b)


@pytest.mark.parametrize("values", [
    [1.0, 2.0, 3.0], [0.1, 1e-5, 100.0], [1e10, 1.0], [float("nan"), float("inf"), 1.0],
    [[1.5, -2.25], [3.0, 4.125]], list(range(1500)), [[1e-9] * 3] * 2, [True, False],
    [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], 3.14159, -0.0, [], [1234567.0, 0.001]])
def test_printing_matches_torch(values):
    for dtype in (None, "float64", "int32", "float16"):
        try:
            want = repr(torch.tensor(values, dtype=dtype and getattr(torch, dtype)))
        except (RuntimeError, TypeError):
            continue
        got = repr(cltorch.tensor(values, dtype=dtype and getattr(cltorch, dtype)))
        assert got == want


def test_printing_summarised_3d_matches_torch():
    a = np.arange(8 * 9 * 10, dtype=np.float32).reshape(8, 9, 10) / 7
    assert repr(cltorch.tensor(a).view(8, 9, 10)) == repr(torch.tensor(a))
    assert repr(cltorch.tensor(a).int()) == repr(torch.tensor(a).int())


def test_half_precision_arithmetic_matches_torch(device):
    a = np.linspace(-3, 3, 50, dtype=np.float32)
    for dtype in ("float16", "bfloat16"):
        want = (torch.tensor(a).to(getattr(torch, dtype)) * 1.7 + 0.3).exp().float().numpy()
        got = (cltorch.tensor(a, device=device).to(getattr(cltorch, dtype)) * 1.7 + 0.3).exp()
        # PyTorch's CPU add rounds a Python-float scalar to the tensor's 16-bit dtype first (its
        # CUDA path and cltorch keep it in float32), so results may differ by an ulp or two.
        assert_close(got.float(), want, rtol=2 ** -6 if dtype == "bfloat16" else 2 ** -9)
        assert not math.isnan(got.float().cpu()._host_values().sum())


REDUCTION_CALLS = {
    "sum": lambda m, x: m.sum(x, 1), "sum_all": lambda m, x: m.sum(x),
    "mean": lambda m, x: m.mean(x, (0, 1), keepdim=True), "prod": lambda m, x: m.prod(x, 0),
    "nansum": lambda m, x: m.nansum(x, -1), "amax": lambda m, x: m.amax(x, 1),
    "amin": lambda m, x: m.amin(x), "max_dim": lambda m, x: m.max(x, 1)[0],
    "argmax_dim": lambda m, x: m.max(x, 1)[1], "argmin": lambda m, x: m.argmin(x),
    "all": lambda m, x: m.all(x, 0), "any": lambda m, x: m.any(x),
    "count_nonzero": lambda m, x: m.count_nonzero(x, 1), "var": lambda m, x: m.var(x, 1),
    "std": lambda m, x: m.std(x, correction=0), "norm": lambda m, x: m.norm(x, 3, 1),
    "logsumexp": lambda m, x: m.logsumexp(x, 1), "softmax": lambda m, x: m.softmax(x, 1),
    "log_softmax": lambda m, x: m.log_softmax(x, 0),
    "vector_norm_inf": lambda m, x: m.linalg.vector_norm(x, float("inf"), dim=1),
}


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
@pytest.mark.parametrize("name", sorted(REDUCTION_CALLS))
def test_reduction_matches_torch(device, name, dtype):
    a = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    if dtype == "float32":
        a[1, 2] = np.nan
    a = a.astype(dtype) if dtype != "bool" else a > 0
    call = REDUCTION_CALLS[name]
    try:
        want = call(torch, torch.from_numpy(a))
    except (RuntimeError, TypeError) as err:
        with pytest.raises(type(err)):
            call(cltorch, cltorch.tensor(a, device=device))
        return
    got = call(cltorch, cltorch.tensor(a, device=device))
    assert repr(got.dtype) == str(want.dtype) and got.shape == tuple(want.shape)
    assert_close(got, want.numpy(), rtol=1e-5, atol=1e-6)
