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
    with pytest.raises(NotImplementedError, match="index_put_"):
        x[[0]] = 1.0


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
