"""Indexing through tensors on every device, against NumPy (and PyTorch where installed)."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch

DTYPES = ["float32", "float16", "bfloat16", "int64", "int8", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select_gather_take(device, dtype):
    a = np.arange(60).reshape(3, 4, 5) % (2 if dtype == "bool" else 60)
    x = cltorch.tensor(a, dtype=getattr(cltorch, dtype), device=device)
    ref = x._host_values()
    idx = cltorch.tensor([3, 0, -1, 0], device=device)
    assert_close(x.index_select(1, idx), ref[:, [3, 0, -1, 0]])
    assert_close(x.permute(2, 0, 1).index_select(0, idx[:2]),
                 ref.transpose(2, 0, 1)[[3, 0]])
    g = np.random.default_rng(0).integers(0, 4, (3, 2, 5))
    assert_close(cltorch.gather(x, 1, cltorch.tensor(g, device=device)),
                 np.take_along_axis(ref, g, 1))
    assert_close(cltorch.take(x, cltorch.tensor([[0, 59], [7, 8]], device=device)),
                 ref.ravel()[[[0, 59], [7, 8]]])


def test_advanced_getitem(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = cltorch.tensor(a, device=device)
    assert_close(x[cltorch.tensor([1, 0, 1], device=device)], a[[1, 0, 1]])
    assert_close(x[:, [2, 0]], a[:, [2, 0]])
    # an int and an index separated by a slice: NumPy/PyTorch put the index dims first
    assert_close(x[1, :, [[0, 3], [1, 1]]], a[1, :, [[0, 3], [1, 1]]])
    assert_close(x[1, [2, 0]], a[1, [2, 0]])
    assert_close(x[:, 1, [3, 3]], a[:, 1, [3, 3]])
    assert_close(x[x > 10], a[a > 10])
    assert_close(x[cltorch.tensor([True, False], device=device)], a[[True, False]])
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 2"):
        x[[3]]
    with pytest.raises(IndexError, match="out of bounds for dimension 1 with size 3"):
        x.index_select(1, cltorch.tensor([-4], device=device))


def test_masks_and_nonzero(device):
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])
    x = cltorch.tensor(a, device=device)
    assert cltorch.nonzero(x).tolist() == np.argwhere(a).tolist()
    assert [t.tolist() for t in x.nonzero(as_tuple=True)] == [r.tolist() for r in np.nonzero(a)]
    assert [t.tolist() for t in cltorch.where(x < 0)] == [[1], [2]]
    assert_close(x.masked_fill(x == 0, 9.0), np.where(a == 0, 9.0, a))
    assert_close(x.masked_select(cltorch.tensor([True, False, True], device=device)),
                 a[:, [0, 2]].ravel())
    y = x.clone()
    y[y < 0] = 100.0
    assert_close(y, np.where(a < 0, 100.0, a))
    y.masked_fill_(cltorch.tensor([[True], [False]], device=device), -1)
    assert y.tolist()[0] == [-1.0, -1.0, -1.0]
    assert cltorch.nonzero(cltorch.tensor(5.0, device=device)).shape == (1, 0)
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        x.masked_fill(x, 1.0)
    z = x.clone()
    z[[1]] = cltorch.tensor([7.0, 8.0, 9.0], device=device)
    z[:, [2, 0]] = -5.0
    assert z.tolist() == [[-5.0, 1.5, -5.0], [-5.0, 8.0, -5.0]]


def test_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.arange(30.0).reshape(5, 6)
    i = np.array([4, 0, 2])
    cases = [lambda m, t, k: t[k], lambda m, t, k: t[:, k], lambda m, t, k: t[t > 12],
             lambda m, t, k: m.index_select(t, 1, k), lambda m, t, k: t.masked_fill(t > 3, 0),
             lambda m, t, k: m.gather(t, 0, k.unsqueeze(1).expand(3, 6)),
             lambda m, t, k: m.nonzero(t % 7 == 0)]
    for case in cases:
        want = case(torch, torch.tensor(a), torch.tensor(i))
        got = case(cltorch, cltorch.tensor(a, device=device), cltorch.tensor(i, device=device))
        assert got.shape == tuple(want.shape) and repr(got.dtype) == str(want.dtype)
        assert_close(got, want.numpy())


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


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_scatter_add_accumulates_duplicates(device, dtype):
    dt = getattr(cltorch, dtype)
    index = np.random.default_rng(0).integers(0, 7, 5000)
    src = np.random.default_rng(1).integers(-3, 4, 5000)
    got = cltorch.zeros(7, dtype=dt, device=device).scatter_add_(
        0, cltorch.tensor(index, device=device), cltorch.tensor(src, dtype=dt, device=device))
    assert_close(got, np.bincount(index, weights=src, minlength=7))
    y = cltorch.ones(4, 2, dtype=dt, device=device)
    y.index_add_(0, cltorch.tensor([3, 3, 0], device=device),
                 cltorch.tensor([[1, 2], [3, 4], [5, 6]], dtype=dt, device=device), alpha=2)
    assert y.tolist() == [[11, 13], [1, 1], [1, 1], [9, 13]]


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
        x.index_fill_(0, cltorch.tensor([3], device=device), 0.0)
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter_(0, cltorch.tensor([[0]], device=device), cltorch.ones(1, 1, dtype=cltorch.int64,
                                                                         device=device))
    if device.startswith("opencl"):
        with pytest.raises(NotImplementedError, match="no atomic add"):
            cltorch.zeros(3, dtype=cltorch.float64, device=device).scatter_add_(
                0, cltorch.tensor([0], device=device), cltorch.ones(1, dtype=cltorch.float64,
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
