"""Pointwise ops on every device against NumPy references computed in float64."""
import math

import numpy as np
import pytest
from conftest import assert_close, needs_fp64

import cltorch
from cltorch.ops.pointwise_table import TABLE

FLOATS = ["float32", "float64", "float16", "bfloat16"]
INTS = ["int64", "int32", "int16", "int8", "uint8"]
_erf = np.vectorize(math.erf)
_erfc = np.vectorize(math.erfc)

# name: (NumPy reference in float64, input domain)
UNARY_FLOAT = {
    "sqrt": (np.sqrt, (0.1, 4)), "rsqrt": (lambda a: 1 / np.sqrt(a), (0.1, 4)),
    "square": (np.square, (-3, 3)), "exp": (np.exp, (-3, 3)), "exp2": (np.exp2, (-3, 3)), "expm1": (np.expm1, (-1, 1)),
    "log": (np.log, (0.1, 4)), "log2": (np.log2, (0.1, 4)), "log10": (np.log10, (0.1, 4)),
    "log1p": (np.log1p, (-0.5, 3)), "sin": (np.sin, (-3, 3)), "cos": (np.cos, (-3, 3)),
    "tan": (np.tan, (-1, 1)), "asin": (np.arcsin, (-0.9, 0.9)),
    "acos": (np.arccos, (-0.9, 0.9)), "atan": (np.arctan, (-3, 3)),
    "sinh": (np.sinh, (-2, 2)), "cosh": (np.cosh, (-2, 2)), "tanh": (np.tanh, (-3, 3)),
    "asinh": (np.arcsinh, (-3, 3)), "acosh": (np.arccosh, (1.1, 4)),
    "atanh": (np.arctanh, (-0.9, 0.9)), "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), (-5, 5)),
    "erf": (_erf, (-2, 2)), "erfc": (_erfc, (-2, 2)), "reciprocal": (np.reciprocal, (0.5, 3)),
    "floor": (np.floor, (-3, 3)), "ceil": (np.ceil, (-3, 3)), "round": (np.rint, (-3, 3)),
    "trunc": (np.trunc, (-3, 3)), "frac": (lambda a: a - np.trunc(a), (-3, 3)),
    "abs": (np.abs, (-3, 3)), "neg": (np.negative, (-3, 3)),
    "sign": (np.sign, (-3, 3)), "relu": (lambda a: np.maximum(a, 0), (-3, 3)),
}
UNARY_INT = {"abs": np.abs, "neg": np.negative, "sign": np.sign, "floor": lambda a: a,
             "ceil": lambda a: a, "round": lambda a: a, "trunc": lambda a: a,
             "relu": lambda a: np.maximum(a, 0), "bitwise_not": np.invert,
             "square": np.square}
BINARY_FLOAT = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "fmod": np.fmod,
    "atan2": np.arctan2, "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax,
    "fmin": np.fmin, "pow": np.power,
}
BINARY_INT = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
              "floor_divide": np.floor_divide, "remainder": np.remainder, "fmod": np.fmod,
              "maximum": np.maximum, "minimum": np.minimum, "bitwise_and": np.bitwise_and,
              "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor}
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal, "logical_and": np.logical_and,
           "logical_or": np.logical_or, "logical_xor": np.logical_xor}


def _values(dtype, shape, low=-3, high=3, seed=0):
    """Random values exactly representable in ``dtype`` (as float64 / int64)."""
    rng = np.random.default_rng(seed)
    if dtype in FLOATS:
        x = rng.uniform(low, high, shape)
        return cltorch.tensor(x, dtype=getattr(cltorch, dtype))._host_values().astype(np.float64)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -50), min(info.max, 50), shape).astype(np.int64)


def _tensor(values, dtype, device):
    if dtype == "float64":
        needs_fp64(device)
    return cltorch.tensor(values, dtype=getattr(cltorch, dtype), device=device)


def _rounded(values, dtype):
    """``values`` rounded to ``dtype`` as the device stores them, back in float64."""
    return cltorch.tensor(values, dtype=getattr(cltorch, dtype))._host_values().astype(np.float64)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
def test_unary_float(device, name, dtype):
    ref, (low, high) = UNARY_FLOAT[name]
    a = _values(dtype, (7, 13), low, high)
    x = _tensor(a, dtype, device)
    got = getattr(cltorch, name)(x)
    assert got.dtype is x.dtype and got.device == cltorch.device(device)
    assert_close(got, _rounded(ref(a), dtype), dtype, atol=1e-5 if dtype == "float32" else None)


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", sorted(UNARY_INT))
def test_unary_int(device, name, dtype):
    a = _values(dtype, (5, 9))
    got = getattr(cltorch, name)(_tensor(a, dtype, device))
    want = UNARY_INT[name](a.astype(dtype))
    assert got.dtype.name == dtype
    assert_close(got, want.astype(dtype))


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_float_ops_of_integers_give_default_float(device, dtype):
    a = np.arange(1, 7).reshape(2, 3) % (2 if dtype == "bool" else 7)
    x = cltorch.tensor(a.astype(dtype), device=device)
    for name in ("sqrt", "exp", "sin", "sigmoid"):
        got = getattr(cltorch, name)(x)
        assert got.dtype is cltorch.float32
        assert_close(got, UNARY_FLOAT[name][0](a.astype(np.float64)), "float32")
    assert (x / 2).dtype is cltorch.float32


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(BINARY_FLOAT))
def test_binary_float_broadcast_and_strided(device, name, dtype):
    a = _values(dtype, (4, 6), seed=1)
    b = _values(dtype, (6, 4), seed=2).T[None] + 0.0  # (1, 4, 6), read transposed
    b = np.where(np.abs(b) < 0.25, 0.5, b)
    b = _rounded(b, dtype)
    x, y = _tensor(a, dtype, device), _tensor(b[0].T, dtype, device).t()[None]
    assert not y.is_contiguous()
    if name == "pow":  # a real power needs a non-negative base
        x, a = x.abs(), np.abs(a)
    got = getattr(cltorch, name)(x, y)
    want = BINARY_FLOAT[name](a, b)
    assert got.shape == (1, 4, 6)
    assert_close(got, _rounded(want, dtype), dtype, atol=1e-5 if dtype == "float32" else None)


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", sorted(BINARY_INT))
def test_binary_int(device, name, dtype):
    a, b = _values(dtype, (3, 8), seed=3), _values(dtype, (8,), seed=4)
    b = np.where(b == 0, 3, b)
    got = getattr(cltorch, name)(_tensor(a, dtype, device), _tensor(b, dtype, device))
    with np.errstate(all="ignore"):
        want = BINARY_INT[name](a.astype(dtype), b.astype(dtype)).astype(dtype)
    assert got.dtype.name == dtype
    assert_close(got, want)


@pytest.mark.parametrize("dtype", ["float32", "int32", "float16"])
@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparisons_and_logical(device, name, dtype):
    a = np.array([[0, 1, 2, -1], [3, 2, 0, -2]], dtype=np.float64)
    b = np.array([0, 2, 2, -3], dtype=np.float64)
    got = getattr(cltorch, name)(_tensor(a, dtype, device), _tensor(b, dtype, device))
    assert got.dtype is cltorch.bool
    assert_close(got, COMPARE[name](a, b))


def test_special_values(device):
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5], dtype=np.float32)
    x = cltorch.tensor(v, device=device)
    assert_close(x.isnan(), np.isnan(v))
    assert_close(x.isinf(), np.isinf(v))
    assert_close(x.isfinite(), np.isfinite(v))
    assert_close(x.sign(), np.nan_to_num(np.sign(v)))  # PyTorch: sign(nan) == 0
    assert_close(x.relu(), np.array([np.nan, np.inf, 0, 0, 0, 1.5, 0], np.float32))
    assert_close(x.nan_to_num(), np.nan_to_num(v))
    assert_close(x.nan_to_num(nan=1.0, posinf=2.0, neginf=-2.0),
                 np.nan_to_num(v, nan=1.0, posinf=2.0, neginf=-2.0))
    assert_close(cltorch.maximum(x, cltorch.zeros_like(x)), np.maximum(v, 0))
    assert_close(cltorch.fmax(x, cltorch.zeros_like(x)), np.fmax(v, 0))
    assert_close(x.round(), np.rint(v))
    assert_close(cltorch.clamp(x, -1, 1), np.minimum(np.maximum(v, -1), 1))


def test_scalars_and_reflected_operators(device):
    a = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    x = cltorch.tensor(a, device=device)
    assert_close(2 - x, 2 - a)
    assert_close(2 / x, 2 / a)
    assert_close(2 ** x, 2 ** a)
    assert_close(x ** 2, a ** 2)
    assert_close(7 % x, 7 % a)
    assert_close(7 // x, 7 // a)
    assert_close(-x + abs(-x) * +x, -a + np.abs(-a) * a)
    assert_close(cltorch.add(x, x, alpha=2), a + 2 * a)
    assert_close(cltorch.sub(x, 1, alpha=0.5), a - 0.5)
    i = cltorch.tensor([5, -5, 7], device=device)
    assert_close(~i, ~np.array([5, -5, 7]))
    assert_close(i << 2, np.array([20, -20, 28]))
    assert_close(i >> 1, np.array([2, -3, 3]))
    assert_close(1 << i.abs(), 1 << np.array([5, 5, 7]))
    assert_close(i & 3, np.array([5, -5, 7]) & 3)
    assert_close(~cltorch.tensor([True, False], device=device), np.array([False, True]))


def test_repeated_launches_see_each_calls_scalars_and_offsets(device):
    """A kernel keeps its scalar arguments between launches on OpenCL (set only when they
    change): each call must still see its own scalar, signed zero included, and its own views'
    offsets, through one memoised runner."""
    a = np.arange(12, dtype=np.float32)
    x = cltorch.tensor(a, device=device)
    for scalar in (0.0, -0.0, 0, -0.0, 2.5, 2.5, -0.0, float("nan"), float("nan"), 0.0):
        got = (x[1:4] * scalar).cpu().numpy()
        want = a[1:4] * np.float32(scalar)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(got, want)
    for start in (0, 3, 5, 3, 0, 8):  # same layout, other offsets
        assert_close(x[start:start + 4] + x[4:8], a[start:start + 4] + a[4:8])
    for alpha in (1, 2, 2, 1, -1):
        assert_close(cltorch.add(x, x, alpha=alpha), a + alpha * a)


def test_division_modes(device):
    a = np.array([7.0, -7.0, 7.5, -7.5, 0.0], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0], np.float32)
    x, y = cltorch.tensor(a, device=device), cltorch.tensor(b, device=device)
    assert_close(cltorch.div(x, y, rounding_mode="trunc"), np.trunc(a / b))
    assert_close(cltorch.div(x, y, rounding_mode="floor"), np.floor_divide(a, b))
    i, j = cltorch.tensor([7, -7, 7, -7], device=device), cltorch.tensor([2, 2, -2, -2],
                                                                         device=device)
    assert_close(cltorch.div(i, j, rounding_mode="trunc"), np.array([3, -3, -3, 3]))
    assert_close(cltorch.div(i, j, rounding_mode="floor"), np.array([3, -4, -4, 3]))
    assert_close(i % j, np.array([1, 1, -1, -1]))
    assert_close(cltorch.fmod(i, j), np.array([1, -1, 1, -1]))
    assert (i / j).dtype is cltorch.float32
    with pytest.raises(RuntimeError, match="rounding_mode"):
        cltorch.div(x, y, rounding_mode="round")


def test_integer_pow(device):
    i = cltorch.tensor([2, -3, 1, -1, 5], device=device)
    assert_close(i ** 3, np.array([8, -27, 1, -1, 125]))
    assert_close(i ** cltorch.tensor([-1, -2, -3, -3, 0], device=device),
                 np.array([0, 0, 1, -1, 1]))
    with pytest.raises(RuntimeError, match="negative integer powers"):
        i ** -1


def test_square_is_a_product(device):
    """``x ** 2`` is x * x, exactly (NumPy's and PyTorch's square, not a call to pow), with
    pow's dtypes (an integer tensor to a float 2 is float), gradient and in-place form."""
    a = np.random.default_rng(5).standard_normal(1000).astype(np.float32) * 100
    x = cltorch.tensor(a, device=device, requires_grad=True)
    assert_close(x ** 2, a * a, rtol=0, atol=0)
    assert_close(cltorch.pow(x, 2.0), a * a, rtol=0, atol=0)
    (x ** 2).sum().backward()
    assert_close(x.grad, 2 * a, rtol=0, atol=0)
    i = cltorch.tensor([3, -4], device=device)
    assert (i ** 2).dtype is cltorch.int64 and (i ** 2.0).dtype is cltorch.float32
    assert_close(i ** 2.0, np.array([9.0, 16.0], np.float32))
    y = cltorch.tensor(a, device=device)
    y.pow_(2)
    assert_close(y, a * a, rtol=0, atol=0)


def test_ternary_ops(device):
    a, b, c = (np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4) * k for k in (1, 2, 3))
    x, y, z = (cltorch.tensor(v, device=device) for v in (a, b, c))
    assert_close(cltorch.where(x > 0, y, z), np.where(a > 0, b, c))
    assert_close(cltorch.where(x > 0, y, 0.0), np.where(a > 0, b, 0.0))
    assert_close(x.where(x > 0, 1.0), np.where(a > 0, a, 1.0))
    assert_close(cltorch.lerp(x, y, 0.25), a + 0.25 * (b - a))
    assert_close(cltorch.lerp(x, y, z.sigmoid()), a + (1 / (1 + np.exp(-c))) * (b - a),
                 atol=1e-5)
    assert_close(cltorch.addcmul(x, y, z, value=0.5), a + 0.5 * b * c)
    assert_close(cltorch.addcdiv(x, y, z + 10, value=2), a + 2 * (b / (c + 10)))
    assert_close(cltorch.clamp(x, min=y, max=z.abs()), np.minimum(np.maximum(a, b), np.abs(c)))
    assert_close(x.clamp(min=0), np.maximum(a, 0))
    assert_close(x.clip(max=0.5), np.minimum(a, 0.5))
    assert_close(cltorch.round(x * 10, decimals=-1), np.rint(a * 10 / 10) * 10)
    assert_close(cltorch.round(x, decimals=2), np.rint(a * 100) / 100)


def test_out_and_inplace(device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = cltorch.tensor(a, device=device)
    out = cltorch.empty(2, 3, device=device)
    assert cltorch.mul(x, 2, out=out) is out
    assert_close(out, a * 2)
    y = x.clone()
    assert y.add_(1) is y and y.mul_(cltorch.tensor([1., 2., 3.], device=device)) is y
    assert_close(y, (a + 1) * [1, 2, 3])
    y += 1
    y /= 2
    assert_close(y, ((a + 1) * [1, 2, 3] + 1) / 2)
    view = y[:, 1]
    view.zero_()
    assert_close(y[:, 1], np.zeros(2))
    d = cltorch.zeros(2, 3, dtype=cltorch.float64, device=device) if \
        cltorch.backend.get(device).supports_fp64 else None
    if d is not None:
        cltorch.add(x, x, out=d)
        assert d.dtype is cltorch.float64
        assert_close(d, 2 * a)


def test_inplace_on_overlapping_views(device):
    x = cltorch.arange(6.0, device=device)
    x[1:] += x[:-1]
    assert_close(x, np.array([0, 1, 3, 5, 7, 9], np.float32))
    m = cltorch.arange(9.0, device=device).reshape(3, 3)
    m.copy_(m.t())
    assert_close(m, np.arange(9.0).reshape(3, 3).T)


def test_bad_inputs(device):
    x = cltorch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match.*\(4\)"):
        x + cltorch.ones(4, device=device)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        cltorch.ones(3, device=device).add_(x)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Long"):
        cltorch.ones(3, dtype=cltorch.int64, device=device).add_(0.5)
    with pytest.raises(RuntimeError, match='"bitwise_and" not implemented for \'Float\''):
        x & x
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool"):
        cltorch.tensor([True], device=device) - cltorch.tensor([False], device=device)
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        -cltorch.tensor([True], device=device)
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        cltorch.add(cltorch.ones(2, dtype=cltorch.int64, device=device), 1, alpha=0.5)
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean"):
        cltorch.where(x, x, x)
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        x.clamp()
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError, match="argument 'out' must be Tensor"):
        cltorch.add(x, x, out=np.zeros(3))


def test_device_mismatch_names_both_devices(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        cltorch.ones(2, device=device) + cltorch.ones(2)
    # a 0-dim cpu tensor is a scalar and may join, as in PyTorch
    assert_close(cltorch.ones(2, device=device) + cltorch.tensor(2.0), np.full(2, 3.0))


def test_integer_division_by_zero(device):
    i, z = cltorch.tensor([4, -4], device=device), cltorch.zeros(2, dtype=cltorch.int64,
                                                                  device=device)
    if device == "cpu":
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            i // z
    else:  # kernels cannot raise; they return 0 instead of trapping (documented)
        assert_close(i // z, np.zeros(2, np.int64))
        assert_close(i % z, np.zeros(2, np.int64))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_relu_gradient_is_one_threshold_backward_pass(device, dtype):
    """relu's gradient is g where the result is positive, else 0 (zeros included), in one
    kernel; differentiated again it is the same mask applied to the new gradient."""
    values = np.array([-2.0, -0.0, 0.0, 0.5, 3.0], np.float32)
    x = cltorch.tensor(values, dtype=getattr(cltorch, dtype), device=device, requires_grad=True)
    g = cltorch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=x.dtype, device=device,
                       requires_grad=True)
    (dx,) = cltorch.autograd.grad(x.relu(), x, g, create_graph=True)
    assert dx.grad_fn.name() == "ThresholdBackwardBackward0"  # PyTorch's node name
    assert_close(dx, np.array([0, 0, 0, 4, 5], np.float32))
    (dg,) = cltorch.autograd.grad(dx, g, cltorch.full((5,), 7.0, dtype=x.dtype, device=device))
    assert_close(dg, np.array([0, 0, 0, 7, 7], np.float32))


def test_tanh_gradient_is_one_tanh_backward_pass(device):
    """g (1 - tanh(x)^2) in one kernel (PyTorch's tanh_backward), differentiable again: with
    respect to g, 1 - y^2; to x, -2 g y (1 - y^2)."""
    needs_fp64(device)
    values = np.array([0.5, -1.0, 2.0])
    x = cltorch.tensor(values, dtype=cltorch.float64, device=device, requires_grad=True)
    g = cltorch.tensor([1.0, 2.0, 3.0], dtype=cltorch.float64, device=device,
                       requires_grad=True)
    (dx,) = cltorch.autograd.grad(x.tanh(), x, g, create_graph=True)
    assert dx.grad_fn.name() == "TanhBackwardBackward0"  # PyTorch's node name
    y = np.tanh(values)
    assert_close(dx, np.array([1.0, 2.0, 3.0]) * (1 - y * y))
    dg, dxx = cltorch.autograd.grad(dx.sum(), (g, x))
    assert_close(dg, 1 - y * y)
    assert_close(dxx, -2 * np.array([1.0, 2.0, 3.0]) * y * (1 - y * y))


def test_every_table_row_is_exercised():
    tested = set(UNARY_FLOAT) | set(UNARY_INT) | set(BINARY_FLOAT) | set(BINARY_INT) | \
        set(COMPARE)
    tested |= {"copy", "div_trunc", "div_floor", "where", "lerp", "addcmul", "addcdiv",
               "clamp", "round_decimals", "nan_to_num", "isnan", "isinf", "isfinite",
               "logical_not", "bitwise_left_shift", "bitwise_right_shift",
               "threshold_backward", "tanh_backward"}
    # the recurrent cell rows: against PyTorch's LSTM, GRU and RNN in test_nn_sequence.py
    tested |= {"lstm_cell", "lstm_output", "lstm_tanh_grad", "lstm_sigmoid_tanh_grad",
               "lstm_sigmoid_grad", "mul_sigmoid", "gru_candidate", "gru_output",
               "gru_update_grad", "gru_candidate_grad", "gru_hidden_grad", "gru_reset_grad"}
    assert set(TABLE) <= tested, set(TABLE) - tested


def test_items_past_the_grid_take_the_grid_stride_loop(device, monkeypatch):
    """With fewer work-items than items (a device capping its groups), the kernels written
    with each_item (_prelude.mako) loop over the rest: pointwise, fused chains, optimizer
    updates and max pooling's gather all cover every item."""
    dev = cltorch.backend.registry.get(device)
    if dev.kind == "cpu":
        pytest.skip("the cpu backend launches no kernels")
    monkeypatch.setattr(dev, "max_groups", 2)
    rng = np.random.default_rng(3)
    n = 12347  # a size no other test launches (a kernel memoises its grid per item count)
    a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    x, y = cltorch.tensor(a, device=device), cltorch.tensor(b, device=device)
    assert_close((x * y + x).abs().sqrt(), np.sqrt(np.abs(a * b + a)), rtol=1e-6)
    chain = cltorch.compile(lambda x, y: ((x * y + x).relu() * 0.5 - y).abs().sqrt() + x)
    for _ in range(3):
        got = chain(x, y)
    want = np.sqrt(np.abs(np.maximum(a * b + a, 0) * 0.5 - b)) + a
    assert_close(got, want, rtol=1e-6)
    p = cltorch.nn.Parameter(cltorch.tensor(a, device=device))
    p.grad = y.clone()
    cltorch.optim.SGD([p], lr=0.5).step()
    assert_close(p, a - 0.5 * b, rtol=1e-6)
    planes = rng.standard_normal((3, 1, 61, 67)).astype(np.float32)
    t = cltorch.tensor(planes, device=device, requires_grad=True)
    cltorch.nn.functional.max_pool2d(t, 2).sum().backward()
    windows = planes[:, :, :60, :66].reshape(3, 1, 30, 2, 33, 2)
    is_max = windows == windows.max(axis=(3, 5), keepdims=True)
    want = np.zeros_like(planes)
    want[:, :, :60, :66] = is_max.reshape(3, 1, 60, 66)
    assert_close(t.grad, want)
