"""Property-based tests: random shapes, strides, broadcasting and dtypes against NumPy."""
import numpy as np
import pytest
from conftest import assert_close, needs_fp64
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cltorch
import cltorch.nn.functional as F
from cltorch.backend import registry

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
DTYPES = ["float32", "float16", "bfloat16", "int32", "int64", "int8", "uint8", "bool"]
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@st.composite
def strided(draw, shape=None):
    """(NumPy array, matching cltorch view): permuted, stepped and offset views of a base."""
    shape = draw(shapes) if shape is None else shape
    steps = [draw(st.integers(1, 2)) for _ in shape]
    starts = [draw(st.integers(0, 1)) for _ in shape]
    base_shape = tuple(s * k + b for s, k, b in zip(shape, steps, starts))
    base = np.arange(int(np.prod(base_shape)), dtype=np.float64).reshape(base_shape) % 11 - 5
    index = tuple(slice(b, b + s * k, k) for s, k, b in zip(shape, steps, starts))
    order = draw(st.permutations(range(len(shape))))
    return base, index, tuple(order)


def _pair(base, index, order, dtype, device):
    dt = getattr(cltorch, dtype)
    t = cltorch.tensor(base, dtype=dt, device=device)[index].permute(*order)
    arr = cltorch.tensor(base, dtype=dt)._host_values()[index].transpose(order)
    return arr, t


@SETTINGS
@given(data=strided(), dtype=st.sampled_from(DTYPES))
def test_views_and_copies_match_numpy(device, data, dtype):
    arr, t = _pair(*data, dtype, device)
    assert t.shape == arr.shape
    assert_close(t, arr)
    assert_close(t.contiguous(), arr)
    assert_close(t.reshape(-1), arr.reshape(-1))


@SETTINGS
@given(a=strided(), b_shape=shapes, dtypes=st.tuples(st.sampled_from(DTYPES),
                                                     st.sampled_from(DTYPES)),
       op=st.sampled_from(["add", "mul", "maximum", "eq", "lt"]))
def test_broadcast_binary_ops_match_numpy(device, a, b_shape, dtypes, op):
    arr_a, t_a = _pair(*a, dtypes[0], device)
    b_shape = tuple(1 if i % 2 else s for i, s in enumerate(arr_a.shape[-len(b_shape):]))\
        if b_shape else ()
    arr_b = (np.arange(int(np.prod(b_shape))).reshape(b_shape) % 7 - 3).astype(np.float64)
    t_b = cltorch.tensor(arr_b, dtype=getattr(cltorch, dtypes[1]), device=device)
    arr_b = t_b._host_values()
    got = getattr(cltorch, op)(t_a, t_b)
    want_dtype = cltorch.result_type(t_a, t_b) if op in ("add", "mul", "maximum") \
        else cltorch.bool
    assert got.dtype is want_dtype
    ref = {"add": np.add, "mul": np.multiply, "maximum": np.maximum, "eq": np.equal,
           "lt": np.less}[op](arr_a.astype(np.float64), arr_b.astype(np.float64))
    expected = cltorch.tensor(ref).to(want_dtype)._host_values()
    assert_close(got, expected, want_dtype.name)


@SETTINGS
@given(data=strided(), scalar=st.one_of(st.integers(-3, 3), st.floats(-2, 2, width=32),
                                        st.booleans()), dtype=st.sampled_from(DTYPES))
def test_scalar_promotion_matches_rules(device, data, scalar, dtype):
    arr, t = _pair(*data, dtype, device)
    got = t * scalar
    want = cltorch.result_type(t, scalar)
    assert got.dtype is want
    ref = cltorch.tensor(arr.astype(np.float64) * float(scalar)).to(want)._host_values()
    assert_close(got, ref, want.name)


def test_all_devices_listed():
    names = [d.name for d in registry.all_devices()]
    assert names[0] == "cpu:0" and len(names) == 1 + cltorch.opencl.device_count() + \
        cltorch.cuda.device_count()


@st.composite
def pool_geometry(draw):
    """A max-pool case: (input shape, kernel, stride, padding, dilation, ceil_mode)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    reach = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(r, r + 12)) for r in reach)  # rows short and long
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    return shape, kernel, stride, padding, dilation, draw(st.booleans())


@SETTINGS
@given(case=pool_geometry(), dtype=st.sampled_from(["float32", "float16", "bfloat16"]),
       nan=st.booleans())
def test_max_pool_matches_torch(device, case, dtype, nan):
    """Values, indices (ties between small integers, NaNs) and the input gradient of
    max_pool2d, disjoint and overlapping windows, against PyTorch."""
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, dilation, ceil = case
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-3, 3, shape).astype(np.float32)
    if nan:
        x.reshape(-1)[rng.integers(0, x.size)] = np.nan
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil, return_indices=True)
    ref = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    t = cltorch.tensor(x, dtype=getattr(cltorch, dtype), device=device, requires_grad=True)
    want, want_index = torch.nn.functional.max_pool2d(ref, **args)
    got, index = F.max_pool2d(t, **args)
    assert_close(got, want.detach().float().numpy(), dtype=dtype)
    finite = ~np.isnan(want.detach().float().numpy())
    assert (index.cpu().numpy()[finite] == want_index.numpy()[finite]).all()
    g = rng.standard_normal(want.shape).astype(np.float32)
    want.backward(torch.tensor(g, dtype=ref.dtype))
    got.backward(cltorch.tensor(g, dtype=t.dtype, device=device))
    if not nan:  # which NaN of a window takes the gradient is the implementation's choice
        assert_close(t.grad, ref.grad.float().numpy(), dtype=dtype)


@SETTINGS
@given(case=pool_geometry(), dtype=st.sampled_from(["float32", "float64", "bfloat16"]))
def test_unfold_and_fold_match_torch(device, case, dtype):
    """F.unfold and F.fold (the sliding windows under convolution) against PyTorch over
    random kernels, strides, paddings and dilations."""
    torch = pytest.importorskip("torch")
    if dtype == "float64":
        needs_fp64(device)
    shape, kernel, stride, padding, dilation, _ = case
    args = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    want = torch.nn.functional.unfold(torch.tensor(x, dtype=getattr(torch, dtype)), **args)
    got = F.unfold(cltorch.tensor(x, dtype=getattr(cltorch, dtype), device=device), **args)
    assert_close(got, want.double().numpy(), dtype=dtype)
    cols = np.random.default_rng(1).standard_normal(tuple(want.shape))
    # the overlapping windows' sum exactly (float64) of the inputs rounded to dtype: PyTorch's
    # half-precision fold rounds after every add, cltorch's once (in float32)
    want = torch.nn.functional.fold(torch.tensor(cols, dtype=getattr(torch, dtype)).double(),
                                    shape[2:], **args)
    got = F.fold(cltorch.tensor(cols, dtype=getattr(cltorch, dtype), device=device), shape[2:],
                 **args)
    assert_close(got, want.double().numpy(), dtype=dtype)


@SETTINGS
@given(case=pool_geometry(), out_channels=st.integers(1, 3), bias=st.booleans(),
       input_grad=st.booleans())
def test_conv2d_and_its_gradients_match_torch(device, case, out_channels, bias, input_grad):
    """conv2d's output and its input, weight and bias gradients (the one-node path, with and
    without each) against PyTorch over random strides, paddings and dilations."""
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, dilation, _ = case
    rng = np.random.default_rng(sum(shape) + out_channels)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((out_channels, shape[1]) + kernel).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32) if bias else None
    results = []
    for lib, kw in ((cltorch, {"device": device}), (torch, {})):
        xt = lib.tensor(x, requires_grad=input_grad, **kw)
        wt = lib.tensor(w, requires_grad=True, **kw)
        bt = None if b is None else lib.tensor(b, requires_grad=True, **kw)
        out = lib.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation)
        g = np.random.default_rng(0).standard_normal(tuple(out.shape)).astype(np.float32)
        out.backward(lib.tensor(g, **kw))
        results.append([out, wt.grad] + ([xt.grad] if input_grad else []) +
                       ([bt.grad] if bias else []))
    for got, want in zip(*results):
        assert_close(got, want.detach().numpy(), rtol=1e-4, atol=1e-4)
