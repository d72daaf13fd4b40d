"""searchsorted, bucketize, histc, bincount, unique and multinomial on every device, against
NumPy and (where installed) PyTorch."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted(device, right):
    seq = np.array([1.0, 3.0, 3.0, 5.0, np.nan], np.float32)
    vals = np.array([[0.0, 3.0, 4.0], [5.0, 9.0, np.nan]], np.float32)
    got = cltorch.searchsorted(cltorch.tensor(seq, device=device),
                               cltorch.tensor(vals, device=device), right=right)
    side = "right" if right else "left"
    assert got.tolist() == np.searchsorted(seq, vals, side=side).tolist()
    rows = np.sort(np.random.default_rng(0).integers(0, 20, (3, 10)), 1)
    v = np.random.default_rng(1).integers(0, 20, (3, 4))
    got = cltorch.searchsorted(cltorch.tensor(rows, device=device),
                               cltorch.tensor(v, device=device), side=side)
    assert got.tolist() == [np.searchsorted(r, x, side=side).tolist() for r, x in zip(rows, v)]
    b = cltorch.bucketize(cltorch.tensor([0.5, 3.0, 8.0], device=device),
                          cltorch.tensor([1.0, 3.0, 5.0], device=device), right=right)
    assert b.tolist() == ([0, 2, 3] if right else [0, 1, 3])


def test_histograms(device):
    a = np.random.default_rng(2).standard_normal(5000).astype(np.float32)
    x = cltorch.tensor(a, device=device)
    assert_close(cltorch.histc(x, bins=7, min=-1, max=1), np.histogram(a, 7, (-1, 1))[0])
    assert_close(x.histc(5), np.histogram(a, 5, (a.min(), a.max()))[0])
    k = np.random.default_rng(3).integers(0, 9, 3000)
    assert cltorch.bincount(cltorch.tensor(k, device=device)).tolist() == \
        np.bincount(k).tolist()
    w = np.random.default_rng(4).random(3000).astype(np.float32)
    assert_close(cltorch.bincount(cltorch.tensor(k, device=device),
                                  cltorch.tensor(w, device=device), minlength=12),
                 np.bincount(k, w, 12), rtol=1e-5)
    with pytest.raises(RuntimeError, match="non-negative"):
        cltorch.bincount(cltorch.tensor([1, -1], device=device))


def test_unique(device):
    a = np.array([[3, 1, 3], [2, 7, 1]])
    values, inverse, counts = cltorch.unique(cltorch.tensor(a, device=device),
                                             return_inverse=True, return_counts=True)
    want = np.unique(a, return_inverse=True, return_counts=True)
    assert values.tolist() == want[0].tolist() and counts.tolist() == want[2].tolist()
    assert inverse.tolist() == want[1].reshape(a.shape).tolist()
    assert cltorch.unique(cltorch.tensor([], device=device)).numel() == 0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unique_along_dim(device, dim):
    a = np.random.default_rng(dim + 5).integers(0, 2, (6, 3, 4))
    values, inverse, counts = cltorch.unique(cltorch.tensor(a, device=device), dim=dim,
                                             return_inverse=True, return_counts=True)
    want = np.unique(a, axis=dim, return_inverse=True, return_counts=True)
    assert values.tolist() == want[0].tolist() and counts.tolist() == want[2].tolist()
    assert inverse.tolist() == want[1].ravel().tolist()
    empty = cltorch.unique(cltorch.zeros(0, 2, device=device), dim=0)
    assert empty.shape == (0, 2)


def _np_mode(rows):
    """Smallest most frequent value of each row and the index of its last occurrence."""
    values, indices = [], []
    for row in rows:
        vals, counts = np.unique(row, return_counts=True)
        values.append(vals[np.argmax(counts)])
        indices.append(np.flatnonzero(row == values[-1])[-1])
    return np.array(values), np.array(indices)


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_mode(device, dim, keepdim):
    a = np.random.default_rng(dim).integers(0, 4, (7, 9)).astype(np.float32)
    got = cltorch.tensor(a, device=device).mode(dim, keepdim=keepdim)
    values, indices = _np_mode(np.moveaxis(a, dim, -1))
    if keepdim:
        values, indices = np.expand_dims(values, dim), np.expand_dims(indices, dim)
    assert_close(got.values, values)
    assert_close(got.indices, indices)
    scalar = cltorch.mode(cltorch.tensor(5, device=device))
    assert scalar.values.item() == 5 and scalar.indices.item() == 0
    with pytest.raises(IndexError, match="Expected reduction dim 0 to have non-zero size"):
        cltorch.zeros(0, 3, device=device).mode(0)


def test_multinomial(device):
    cltorch.manual_seed(5)
    p = cltorch.tensor([[0.2, 0.0, 0.8], [1.0, 1.0, 2.0]], device=device)
    draws = cltorch.multinomial(p, 20000, replacement=True)._host_values()
    assert np.all(draws[0] != 1)
    assert abs((draws[0] == 2).mean() - 0.8) < 0.02 and abs((draws[1] == 2).mean() - 0.5) < 0.02
    perm = cltorch.multinomial(cltorch.ones(6, device=device), 6)._host_values()
    assert sorted(perm.tolist()) == list(range(6))
    with pytest.raises(RuntimeError, match="without replacement"):
        cltorch.multinomial(p, 4)


def test_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.array([4.0, 1.0, 4.0, 2.5, 9.0, 1.0], np.float32)
    seq = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
    assert cltorch.searchsorted(cltorch.tensor(seq, device=device),
                                cltorch.tensor(a, device=device)).tolist() == \
        torch.searchsorted(torch.from_numpy(seq), torch.from_numpy(a)).tolist()
    assert_close(cltorch.histc(cltorch.tensor(a, device=device), bins=4, min=0, max=8),
                 torch.histc(torch.from_numpy(a), bins=4, min=0, max=8).numpy())
    got = cltorch.unique(cltorch.tensor(a, device=device), return_counts=True)
    want = torch.unique(torch.from_numpy(a), return_counts=True)
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    m = a.reshape(2, 3)
    for got, want in ((cltorch.tensor(m, device=device).mode(1), torch.from_numpy(m).mode(1)),
                      (cltorch.unique(cltorch.tensor(m, device=device), dim=1,
                                      return_inverse=True),
                       torch.unique(torch.from_numpy(m), dim=1, return_inverse=True))):
        assert [t.tolist() for t in got] == [t.tolist() for t in want]
