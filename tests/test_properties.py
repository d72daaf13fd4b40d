"""Property-based tests: random shapes, strides, broadcasting and dtypes against NumPy."""
import numpy as np
from conftest import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cltorch
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
