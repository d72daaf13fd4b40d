"""Writes through index tensors on every device, against NumPy's ``ufunc.at`` and PyTorch
where installed: scatter reductions, scatter_reduce, adds in every dtype, masked_scatter_,
index_put_ with several index tensors."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch
from cltorch.backend import registry

AT = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _dtype_or_skip(device, name):
    if name == "float64" and not registry.get(device).supports_fp64:
        pytest.skip(f"{device} has no fp64")
    return getattr(cltorch, name)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "int64", "int8",
                                   "float32", "int32"])
def test_adds_with_duplicates_in_every_dtype(device, dtype):
    dt = _dtype_or_skip(device, dtype)
    index = np.random.default_rng(0).integers(0, 6, 3000)
    src = np.random.default_rng(1).integers(-2, 3, 3000)
    got = cltorch.zeros(6, dtype=dt, device=device).scatter_add_(
        0, cltorch.tensor(index, device=device), cltorch.tensor(src, dtype=dt, device=device))
    want = np.bincount(index, weights=src, minlength=6)
    if dtype == "int8":
        want = want.astype(np.int64).astype(np.int8)  # wraps, as PyTorch's int8 adds do
    assert_close(got, want)
    x = cltorch.zeros(3, 2, dtype=dt, device=device)
    x.index_put_((cltorch.tensor([2, 0, 2], device=device),),
                 cltorch.tensor([[1, 2], [3, 4], [5, 6]], dtype=dt, device=device),
                 accumulate=True)
    assert x.tolist() == [[3, 4], [0, 0], [6, 8]]
    y = cltorch.ones(4, 2, dtype=dt, device=device)
    y.index_add_(0, cltorch.tensor([3, 3, 0], device=device),
                 cltorch.tensor([[1, 2], [3, 4], [5, 6]], dtype=dt, device=device), alpha=2)
    assert y.tolist() == [[11, 13], [1, 1], [1, 1], [9, 13]]


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_multiply(device, dim):
    a = np.arange(1.0, 13.0, dtype=np.float32).reshape(3, 4)
    index = np.array([[2, 0, 1, 0], [2, 2, 0, 1]]) if dim == 0 else np.array([[3, 3], [0, 1],
                                                                            [2, 2]])
    src = (2.0 + np.arange(index.size).reshape(index.shape)).astype(np.float32)
    got = cltorch.tensor(a, device=device).scatter(
        dim, cltorch.tensor(index, device=device), cltorch.tensor(src, device=device),
        reduce="multiply")
    want = a.copy()
    coords = list(np.indices(index.shape))
    coords[dim] = index
    np.multiply.at(want, tuple(coords), src)
    assert_close(got, want)
    scalar = cltorch.ones(2, 3, device=device).scatter_(1, cltorch.tensor([[0, 0]], device=device),
                                                         3.0, reduce="multiply")
    assert scalar.tolist() == [[9.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        cltorch.ones(2, device=device).scatter_(0, cltorch.tensor([0], device=device), 1.0,
                                                 reduce="max")


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_scatter_reduce(device, reduce, include_self, dtype):
    rng = np.random.default_rng(3)
    a = rng.integers(-5, 6, (4, 6)).astype(dtype)
    index = rng.integers(0, 6, (4, 9))
    src = rng.integers(-5, 6, (4, 9)).astype(dtype)
    got = cltorch.tensor(a, device=device).scatter_reduce(
        1, cltorch.tensor(index, device=device), cltorch.tensor(src, device=device), reduce,
        include_self=include_self)
    rows = np.arange(4)[:, None].repeat(9, 1)
    hit = np.zeros(a.shape, bool)
    hit[rows, index] = True
    start = a.astype(np.float64)
    if not include_self:
        start[hit] = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
    if reduce == "mean":
        total, count = start.copy(), np.full(a.shape, float(include_self))
        np.add.at(total, (rows, index), src)
        np.add.at(count, (rows, index), 1)
        want = total / np.maximum(count, 1)
        want = np.floor(want) if dtype == "int64" else want
    else:
        want = start
        AT[reduce].at(want, (rows, index), src)
    assert_close(got, want.astype(dtype))


def test_scatter_reduce_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.array([1.0, 2.0, 3.0, 4.0, np.nan], dtype=np.float32)
    index, src = np.array([0, 0, 1, 4, 4]), np.array([3.0, 4.0, 5.0, np.nan, 1.0], np.float32)
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            want = torch.from_numpy(a).scatter_reduce(0, torch.from_numpy(index),
                                                      torch.from_numpy(src), reduce,
                                                      include_self=include_self)
            got = cltorch.tensor(a, device=device).scatter_reduce(
                0, cltorch.tensor(index, device=device), cltorch.tensor(src, device=device),
                reduce, include_self=include_self)
            assert_close(got, want.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "bool"])
def test_masked_scatter(device, dtype):
    dt = getattr(cltorch, dtype)
    a = np.zeros((3, 4))
    mask = np.array([True, False, True, True])  # broadcasts over the rows
    src = np.arange(1, 13).reshape(4, 3) % (2 if dtype == "bool" else 100)
    got = cltorch.tensor(a, dtype=dt, device=device).masked_scatter_(
        cltorch.tensor(mask, device=device), cltorch.tensor(src, dtype=dt, device=device))
    want = np.zeros((3, 4))
    full = np.broadcast_to(mask, a.shape)
    want[full] = src.ravel()[:full.sum()]
    assert_close(got, want.astype(got.dtype.numpy))
    x = cltorch.zeros(3, device=device)
    with pytest.raises(RuntimeError, match="Number of elements of source < number of ones"):
        x.masked_scatter_(cltorch.tensor([True, True, False], device=device),
                          cltorch.zeros(1, device=device))
    assert x.masked_scatter(cltorch.tensor([False] * 3, device=device),
                            cltorch.zeros(0, device=device)).tolist() == [0.0] * 3


def test_index_put_several_indices(device):
    a = np.zeros((3, 4, 2), dtype=np.float32)
    rows, cols = np.array([0, 2, 0, 0]), np.array([1, 3, 1, 1])
    values = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], dtype=np.float32)
    x = cltorch.tensor(a, device=device)
    x.index_put_((cltorch.tensor(rows, device=device), cltorch.tensor(cols, device=device)),
                 cltorch.tensor(values, device=device), accumulate=True)
    np.add.at(a, (rows, cols), values)
    assert_close(x, a)
    # a non-contiguous target whose advanced dims do not merge: written through a copy
    t = cltorch.zeros(4, 3, 2, device=device).transpose(0, 2)  # shape (2, 3, 4)
    t[[0, 1], :, [3, 0]] = cltorch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    want = np.zeros((2, 3, 4), np.float32)
    want[[0, 1], :, [3, 0]] = [[1, 2, 3], [4, 5, 6]]
    assert_close(t, want)
    assert_close(cltorch.index_put(cltorch.zeros(2, 2, device=device),
                                   (cltorch.tensor([1], device=device),
                                    cltorch.tensor([0], device=device)),
                                   cltorch.tensor(5.0, device=device)), [[0, 0], [5, 0]])


@pytest.mark.parametrize("dtype", ["float32", "int32", "float16", "int64", "bool"])
def test_scatter_set(device, dtype):
    dt = getattr(cltorch, dtype)
    x = cltorch.zeros(3, 5, dtype=dt, device=device)
    index = np.array([[4, 0, 2], [1, 3, 0]])
    src = (np.arange(1, 7).reshape(2, 3) % (2 if dtype == "bool" else 7))
    got = x.scatter(1, cltorch.tensor(index, device=device), cltorch.tensor(src, dtype=dt,
                                                                            device=device))
    want = np.zeros((3, 5), dtype=got.dtype.numpy)
    np.put_along_axis(want[:2], index, src, 1)
    assert_close(got, want)
    assert_close(x.scatter(0, cltorch.tensor([[2, 0]], device=device), True if dtype == "bool"
                           else 5), np.array([[0, 5 if dtype != "bool" else 1, 0, 0, 0],
                                              [0] * 5, [5 if dtype != "bool" else 1, 0, 0, 0,
                                                        0]]))


def test_index_copy_fill_put(device):
    x = cltorch.zeros(3, 4, device=device)
    x.index_copy_(1, cltorch.tensor([3, 0], device=device),
                  cltorch.tensor([[1.0, 2.0]] * 3, device=device))
    x.index_fill_(0, cltorch.tensor([1], device=device), -1.0)
    assert x.tolist() == [[2.0, 0, 0, 1.0], [-1.0] * 4, [2.0, 0, 0, 1.0]]
    x.index_put_((cltorch.tensor([0, 0], device=device),), cltorch.tensor(1.0, device=device),
                 accumulate=True)
    assert x[0].tolist() == [4.0, 2.0, 2.0, 3.0]
    x.put_(cltorch.tensor([11], device=device), cltorch.tensor([9.0], device=device))
    assert x[2, 3].item() == 9.0
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_fill_(0, cltorch.tensor([3], device=device), 0.0).tolist()
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter_(0, cltorch.tensor([[0]], device=device), cltorch.ones(1, 1, dtype=cltorch.int64,
                                                                         device=device))


def test_scatter_matches_torch(device):
    torch = pytest.importorskip("torch")
    idx = np.array([[0, 1, 2, 3, 0], [3, 2, 1, 0, 3]])
    src = np.arange(10, dtype=np.float32).reshape(2, 5)
    rows = np.array([4, 0, 4])
    block = np.arange(15, dtype=np.float32).reshape(3, 5)
    cases = [lambda t, i, s, r, b: t.scatter(0, i, s),
             lambda t, i, s, r, b: t.scatter_add(0, i, s),
             lambda t, i, s, r, b: t.index_add_(0, r, b),
             lambda t, i, s, r, b: t.index_copy_(1, r[:1], b[:1].t())]
    for case in cases:
        want = case(torch.zeros(5, 5), torch.from_numpy(idx), torch.from_numpy(src),
                    torch.from_numpy(rows), torch.from_numpy(block))
        got = case(cltorch.zeros(5, 5, device=device), cltorch.tensor(idx, device=device),
                   cltorch.tensor(src, device=device), cltorch.tensor(rows, device=device),
                   cltorch.tensor(block, device=device))
        assert_close(got, want.numpy())
