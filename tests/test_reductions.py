"""Reductions on every device against NumPy (float64 references), and against PyTorch where it
is installed: any dims, negative dims, keepdim, strided inputs, dtypes, empty inputs, errors."""
import math

import numpy as np
import pytest
from conftest import assert_close, needs_fp64

import cltorch

DIMS = [None, 0, -1, (0, 2), (1,), (0, 1, 2)]


def _data(dtype="float32", shape=(4, 37, 6), seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    if dtype.startswith("int") or dtype in ("uint8", "bool"):
        a = np.round(a * 3) % (2 if dtype == "bool" else 7)
    return cltorch.tensor(a, dtype=getattr(cltorch, dtype))._host_values().astype(np.float64)


def _np_dims(dim):
    return dim if dim is None or isinstance(dim, tuple) else (dim,)


@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name,ref", [("sum", np.sum), ("mean", np.mean), ("amax", np.max),
                                      ("amin", np.min), ("prod", np.prod),
                                      ("nansum", np.nansum)])
def test_float_reductions(device, name, ref, dim, keepdim):
    a = _data() * (0.5 if name == "prod" else 1)
    x = cltorch.tensor(a, dtype=cltorch.float32, device=device).permute(1, 0, 2)
    got = getattr(cltorch, name)(x, **({} if dim is None else {"dim": dim}), keepdim=keepdim)
    want = ref(a.transpose(1, 0, 2), axis=_np_dims(dim), keepdims=keepdim)
    assert got.dtype is cltorch.float32 and got.device == cltorch.device(device)
    assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool", "float16", "bfloat16",
                                   "float64"])
def test_reduction_dtypes(device, dtype):
    if dtype == "float64":
        needs_fp64(device)
    a = _data(dtype, (5, 9))
    x = cltorch.tensor(a, dtype=getattr(cltorch, dtype), device=device)
    s = x.sum(1)
    assert s.dtype is (cltorch.int64 if dtype in ("int64", "int32", "uint8", "bool")
                       else x.dtype)
    assert_close(s, a.sum(1), rtol=1e-2 if "16" in dtype else 1e-6)
    assert_close(x.amax(0), a.max(0))
    assert_close(x.all(1), np.all(a != 0, 1))
    assert_close(x.any(0), np.any(a != 0, 0))
    assert_close(cltorch.count_nonzero(x, 0), np.count_nonzero(a, 0))
    assert cltorch.sum(x, dtype=cltorch.float32).dtype is cltorch.float32


@pytest.mark.parametrize("dim", [0, 1, -1, None])
def test_max_min_with_indices(device, dim):
    a = np.array([[3.0, 7.0, 7.0, -1.0], [2.0, np.nan, 5.0, 5.0], [0.0, 0.0, -4.0, 9.0]],
                 dtype=np.float32)
    x = cltorch.tensor(a, device=device)
    if dim is None:
        assert math.isnan(x.max().item()) and math.isnan(x.min().item())
        assert x.argmax().item() == 5 and x.argmin().item() == 5  # NaN wins, as in PyTorch
        assert x.argmax(keepdim=True).shape == (1, 1)
        return
    values, indices = x.max(dim)
    assert indices.dtype is cltorch.int64
    assert_close(indices, np.argmax(a, dim))
    assert_close(values, np.max(a, dim))
    lo = x.min(dim, keepdim=True)
    assert_close(lo.indices, np.expand_dims(np.argmin(a, dim), dim))
    assert_close(lo.values, np.min(a, dim, keepdims=True))
    assert_close(cltorch.max(x, cltorch.zeros_like(x)), np.maximum(a, 0))


def test_argmax_ties_take_the_first(device):
    x = cltorch.tensor([[1, 5, 5, 2, 5]] * 3, device=device)
    assert x.argmax(1).tolist() == [1, 1, 1] and x.argmin().item() == 0


@pytest.mark.parametrize("size", [1, 255, 256, 257, 5000, 300_001])
def test_long_reductions_use_two_passes_correctly(device, size):
    a = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    x = cltorch.tensor(a, device=device)
    assert_close(x.sum(), a.astype(np.float64).sum(), rtol=1e-4, atol=1e-3)
    assert_close(x.mean(), a.astype(np.float64).mean(), rtol=1e-4, atol=1e-5)
    assert_close(x.amax(), a.max())
    assert x.argmin().item() == int(a.argmin())
    assert_close(x.norm(), np.linalg.norm(a.astype(np.float64)), rtol=1e-5)
    m = cltorch.tensor(a[: size - size % 3].reshape(3, -1), device=device) if size >= 3 else x
    assert_close(m.sum(-1), a[: size - size % 3].reshape(3, -1).astype(np.float64).sum(-1)
                 if size >= 3 else a.sum(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("size", [5000, 300_001])
def test_long_arg_reductions(device, size):
    a = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    a[size // 3] = a[size - 2] = 9.0  # a tie across two chunks: the first index wins
    x = cltorch.tensor(a, device=device)
    assert x.argmax().item() == size // 3
    assert x.argmin().item() == int(a.argmin())
    values, indices = cltorch.tensor(a.reshape(-1, 1), device=device).max(0)
    assert values.tolist() == [9.0] and indices.tolist() == [size // 3]
    a[size - 1] = np.nan
    assert cltorch.tensor(a, device=device).argmax().item() == size - 1


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_std(device, correction):
    a = _data(shape=(6, 11))
    x = cltorch.tensor(a, dtype=cltorch.float32, device=device)
    assert_close(x.var(1, correction=correction), np.var(a, 1, ddof=correction), rtol=1e-5)
    assert_close(x.std(0, keepdim=True, correction=correction),
                 np.std(a, 0, ddof=correction, keepdims=True), rtol=1e-5)
    assert_close(x.var(), np.var(a, ddof=1), rtol=1e-5)
    assert_close(cltorch.std(x, 1, False), np.std(a, 1), rtol=1e-5)  # unbiased=False
    v, m = cltorch.var_mean(x, 0)
    assert_close(v, np.var(a, 0, ddof=1), rtol=1e-5)
    assert_close(m, a.mean(0), rtol=1e-5)
    with pytest.raises(RuntimeError, match="only support floating point"):
        cltorch.tensor([1, 2], device=device).var()


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, math.inf, -math.inf, 0])
def test_vector_norms(device, p):
    a = _data(shape=(5, 8))
    a[0, 0] = 0.0
    x = cltorch.tensor(a, dtype=cltorch.float32, device=device)
    assert_close(cltorch.linalg.vector_norm(x, p, dim=1),
                 np.linalg.norm(a, ord=p, axis=1), rtol=1e-5, atol=1e-6)
    flat = a.ravel()
    want = np.count_nonzero(flat) if p == 0 else np.linalg.norm(flat, ord=p)
    assert_close(x.norm(p), want, rtol=1e-5)


def test_softmax_logsumexp(device):
    a = _data(shape=(3, 5, 7)) * 30  # large values: the shift must keep it finite
    x = cltorch.tensor(a, dtype=cltorch.float32, device=device)
    e = np.exp(a - a.max(1, keepdims=True))
    assert_close(x.softmax(1), e / e.sum(1, keepdims=True), rtol=1e-4, atol=1e-7)
    assert_close(cltorch.log_softmax(x, -1),
                 a - a.max(-1, keepdims=True) - np.log(np.exp(a - a.max(-1, keepdims=True))
                                                       .sum(-1, keepdims=True)), rtol=1e-4,
                 atol=1e-4)
    lse = np.log(np.exp(a - a.max(2, keepdims=True)).sum(2)) + a.max(2)
    assert_close(cltorch.logsumexp(x, 2), lse, rtol=1e-5)
    inf = cltorch.tensor([-math.inf, -math.inf], device=device)
    assert inf.logsumexp(0).item() == -math.inf


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape,dim", [((3, 5, 7), 1), ((2, 3000), -1), ((4000, 3), 0),
                                       ((), 0), ((0, 4), 1)])
def test_fused_softmax(device, kernel_style, dtype, shape, dim):
    a = np.random.default_rng(len(shape)).standard_normal(shape) * 20
    x = cltorch.tensor(a, dtype=getattr(cltorch, dtype), device=device)
    ref = x._host_values().astype(np.float64)
    if len(shape) == 3:  # a strided input
        x, ref = x.transpose(0, 2), ref.transpose(2, 1, 0)
    with np.errstate(all="ignore"):
        shifted = ref - ref.max(dim, keepdims=True) if ref.size else ref
        lse = np.log(np.exp(shifted).sum(dim, keepdims=True))
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == "float32" else dict(rtol=1e-2, atol=1e-2)
    assert_close(x.softmax(dim), np.exp(shifted - lse), **tol)
    assert_close(x.log_softmax(dim), shifted - lse, **tol)
    assert x.softmax(dim).dtype is x.dtype


def test_softmax_special_values(device, kernel_style):
    x = cltorch.tensor([[1.0, np.nan, 2.0], [-np.inf, 0.0, -np.inf], [np.inf, 1.0, 0.0]],
                       device=device)
    got = x.softmax(1)._host_values()
    assert np.isnan(got[0]).all() and got[1].tolist() == [0.0, 1.0, 0.0]
    assert np.isnan(got[2]).all()  # inf - inf makes the sum NaN, as in PyTorch
    assert cltorch.tensor([1, 2], device=device).softmax(0, dtype=cltorch.float32).dtype is \
        cltorch.float32
    with pytest.raises(NotImplementedError, match='"softmax" not implemented for \'Long\''):
        cltorch.tensor([1, 2], device=device).softmax(0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_special_values_in_long_rows(device, kernel_style, dtype):
    """Special values anywhere in rows longer than a work-group (the GPU form's running maximum
    and sum, rescaled as the maximum grows, then combined across the group): the three-sweep
    results, as PyTorch's. A NaN or +inf makes the row NaN, -inf adds nothing, a row of -inf
    is NaN; cross entropy's log-sum-exp agrees."""
    if dtype == "float64":
        needs_fp64(device)
    n = 700
    rows = np.random.default_rng(3).standard_normal((8, n)) * 30
    rows[0, 650] = np.nan
    rows[1, 5] = np.inf
    rows[2, ::3] = -np.inf
    rows[3] = -np.inf
    rows[4, 699] = 500.0  # the maximum arrives last: every earlier sum is rescaled
    rows[5] = np.linspace(-50, 50, n)  # it grows at every step
    rows[6, :350] = -np.inf
    x = cltorch.tensor(rows, dtype=getattr(cltorch, dtype), device=device)
    with np.errstate(all="ignore"):
        top = rows.max(1, keepdims=True)
        lse = top + np.log(np.exp(rows - top).sum(1, keepdims=True))
    assert_close(x.log_softmax(1), rows - lse, rtol=1e-5, atol=1e-5)
    assert_close(x.softmax(1), np.exp(rows - lse), rtol=1e-5, atol=1e-7)
    assert np.isnan(x.softmax(1)._host_values()[[0, 1, 3]]).all()
    target = cltorch.tensor([700 - 1] * 8, device=device)
    loss = cltorch.nn.functional.cross_entropy(x, target, reduction="none")
    assert_close(loss, (lse - rows[:, -1:])[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [3000, 300_001])
def test_reductions_in_gpu_style(device, kernel_style, size):
    a = np.random.default_rng(size).standard_normal((2, size)).astype(np.float32)
    x = cltorch.tensor(a, device=device)
    assert_close(x.sum(1), a.astype(np.float64).sum(1), rtol=1e-4, atol=1e-3)
    assert x.argmax(1).tolist() == a.argmax(1).tolist()
    assert_close(x.amin(), a.min())


def test_empty_and_zero_size(device):
    e = cltorch.zeros(0, 3, device=device)
    assert_close(e.sum(0), np.zeros(3))
    assert_close(e.prod(0), np.ones(3))
    assert e.sum(1).shape == (0,) and e.amax(1).shape == (0,)
    assert math.isnan(e.mean().item())
    assert e.all().item() is True and e.any().item() is False
    with pytest.raises(IndexError, match="Expected reduction dim 0 to have non-zero size"):
        e.amax(0)
    with pytest.raises(RuntimeError, match="Specify the reduction dim"):
        e.max()


def test_bad_dims_and_dtypes(device):
    x = cltorch.ones(2, 3, device=device)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(2)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        x.sum((0, -2))
    with pytest.raises(RuntimeError, match="could not infer output dtype"):
        cltorch.tensor([1, 2], device=device).mean()


def test_full_reduction_stays_on_device(device):
    x = cltorch.arange(10.0, device=device)
    s = x.sum()
    assert s.shape == () and s.device == cltorch.device(device)
    assert (s + 1).item() == 46.0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scans(device, dim):
    a = _data(shape=(4, 9, 5))
    a[1, 3, 2] = np.nan
    x = cltorch.tensor(a, dtype=cltorch.float32, device=device).transpose(0, 2)
    ref = a.transpose(2, 1, 0)
    assert_close(x.cumsum(dim), np.cumsum(ref, dim), rtol=1e-5, atol=1e-5)
    assert_close(cltorch.cumprod(x * 0.5, dim), np.cumprod(ref * 0.5, dim), rtol=1e-5,
                 atol=1e-6)
    assert_close(x.cummax(dim).values, np.maximum.accumulate(ref, dim))
    assert_close(x.cummin(dim).values, np.minimum.accumulate(ref, dim))
    assert_close(x.logcumsumexp(dim), np.logaddexp.accumulate(ref, dim), rtol=1e-5, atol=1e-6)
    i = cltorch.tensor([[3, 1, 3, 0, 3]], device=device)
    assert i.cumsum(1).dtype is cltorch.int64
    assert i.cummax(1).indices.tolist() == [[0, 0, 2, 2, 4]]  # ties take the latest index
    assert i.cummin(1).indices.tolist() == [[0, 1, 1, 3, 3]]
    inf = cltorch.tensor([-np.inf, -np.inf, 0.0], device=device)
    assert inf.logcumsumexp(0).tolist() == [-np.inf, -np.inf, 0.0]


@pytest.mark.parametrize("shape,dim", [((50_000,), 0), ((3, 20_001), 1), ((9000, 2), 0)])
def test_long_scans_in_chunks(device, kernel_style, shape, dim):
    rng = np.random.default_rng(7)
    a = rng.integers(-3, 4, shape).astype(np.float32)  # small integers: exact float sums
    x = cltorch.tensor(a, device=device)
    assert_close(x.cumsum(dim), np.cumsum(a.astype(np.float64), dim))
    i = cltorch.tensor(a.astype(np.int64), device=device)
    assert i.cumsum(dim).tolist() == np.cumsum(a.astype(np.int64), dim).tolist()
    p = cltorch.tensor(1 + a / 1e4, device=device)
    assert_close(p.cumprod(dim), np.cumprod(p._host_values().astype(np.float64), dim),
                 rtol=1e-4)
    assert_close(x.logcumsumexp(dim), np.logaddexp.accumulate(a.astype(np.float64), dim),
                 rtol=1e-4)  # float32 rounding adds up over 50 000 steps
    # many ties across chunk boundaries: the latest index wins
    values, indices = x.cummax(dim)
    acc = np.maximum.accumulate(a, dim)
    positions = np.arange(a.shape[dim]).reshape([-1 if d == dim else 1 for d in range(a.ndim)])
    want = np.maximum.accumulate(np.where(a == acc, positions, 0), dim)
    assert_close(values, acc)
    assert_close(indices, want)
    low = x.cummin(dim)
    acc = np.minimum.accumulate(a, dim)
    assert_close(low.values, acc)
    assert_close(low.indices, np.maximum.accumulate(np.where(a == acc, positions, 0), dim))


def test_long_scan_with_nan(device):
    a = np.arange(30_000, dtype=np.float32)
    a[12_345] = np.nan
    values, indices = cltorch.tensor(a, device=device).cummax(0)
    got_v, got_i = values._host_values(), indices._host_values()
    assert np.isnan(got_v[12_345:]).all() and (got_i[12_345:] == 12_345).all()
    assert (got_i[:12_345] == np.arange(12_345)).all()
    s = cltorch.tensor(a, device=device).cumsum(0)._host_values()
    assert np.isnan(s[12_345:]).all() and not np.isnan(s[:12_345]).any()


def test_scans_match_torch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0, np.nan, 0.0], [5, 4, 4, 6, 1]], dtype=np.float32)
    for name in ("cumsum", "cumprod", "logcumsumexp"):
        want = getattr(torch, name)(torch.from_numpy(a), 1).numpy()
        assert_close(getattr(cltorch, name)(cltorch.tensor(a, device=device), 1), want)
    for name in ("cummax", "cummin"):
        want = getattr(torch, name)(torch.from_numpy(a), 1)
        got = getattr(cltorch, name)(cltorch.tensor(a, device=device), 1)
        assert_close(got.values, want.values.numpy())
        assert got.indices.tolist() == want.indices.tolist()


def test_every_differentiable_reduction_row_carries_its_gradient():
    """The derivative rule: a reduction's gradient lives in its row of ops.reduce, as the
    pointwise table's do; only the bool rows have none."""
    from cltorch.ops.reduce import ROWS
    for row in ROWS:
        assert (row.grad is None) == (row.result == "bool"), row.name
        assert row.grad is None or row.node.endswith(("Backward0", "Backward1")), row.name


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_prod_gradient_through_zeros_matches_pytorch(device, dim, keepdim):
    torch = pytest.importorskip("torch")
    needs_fp64(device)
    a = np.array([[2.0, 0.0, 3.0], [1.0, 4.0, 0.5], [0.0, 0.0, 2.0]])
    x = cltorch.tensor(a, dtype=cltorch.float64, device=device, requires_grad=True)
    ref = torch.tensor(a, requires_grad=True)
    for t in (x, ref):
        out = t.prod() if dim is None else t.prod(dim, keepdim=keepdim)
        (out * out).sum().backward()
    assert_close(x.grad, ref.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert cltorch.autograd.gradgradcheck(lambda t: t.prod(1), (x.detach().requires_grad_(),))
