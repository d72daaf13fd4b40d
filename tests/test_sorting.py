"""Sorting on every device: stable order, NaN as the largest, any dim and dtype, topk, kthvalue,
median; against NumPy's stable sort and (where installed) PyTorch."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch


def _stable(a, axis, descending):
    moved = np.moveaxis(a, axis, -1)
    nan = np.isnan(moved) if moved.dtype.kind == "f" else np.zeros(moved.shape, bool)
    pos = np.broadcast_to(np.arange(moved.shape[-1]), moved.shape)
    if descending:
        key = -moved if moved.dtype.kind == "f" else -moved.astype(np.int64)
        order = np.lexsort((pos, np.where(nan, 0, key), ~nan), axis=-1)
    else:
        order = np.lexsort((pos, np.where(nan, 0, moved), nan), axis=-1)
    return np.moveaxis(np.take_along_axis(moved, order, -1), -1, axis), np.moveaxis(order, -1,
                                                                                    axis)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "int8", "bool"])
@pytest.mark.parametrize("dim", [0, -1, 1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(device, dtype, dim, descending):
    a = np.random.default_rng(0).integers(-5, 6, (6, 37, 3)).astype(np.float64)
    if dtype == "bool":
        a = a > 0
    elif dtype in ("float32", "float16"):
        a[1, 5, 0] = a[4, 0, 2] = np.nan
    x = cltorch.tensor(a, dtype=getattr(cltorch, dtype), device=device)
    ref = x._host_values()
    values, index = x.sort(dim, descending=descending)
    want_values, want_index = _stable(ref, dim, descending)
    assert index.dtype is cltorch.int64 and values.dtype is x.dtype
    assert_close(values, want_values)
    assert index.tolist() == want_index.tolist()
    assert cltorch.argsort(x, dim, descending).tolist() == want_index.tolist()


@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 1000])
def test_sort_lengths(device, n):
    a = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    v, i = cltorch.tensor(a, device=device).sort()
    assert_close(v, np.sort(a))
    assert i.tolist() == np.argsort(a, kind="stable").tolist()


def test_topk_kthvalue_median(device):
    a = np.random.default_rng(1).permutation(40).reshape(5, 8).astype(np.float32)
    x = cltorch.tensor(a, device=device)
    top = x.topk(3)
    assert_close(top.values, -np.sort(-a, 1)[:, :3])
    assert_close(x.gather(1, top.indices), top.values._host_values())
    low = x.topk(2, dim=0, largest=False)
    assert_close(low.values, np.sort(a, 0)[:2])
    kth = x.kthvalue(3, 1)
    assert_close(kth.values, np.sort(a, 1)[:, 2])
    assert_close(x.gather(1, kth.indices.unsqueeze(1)).squeeze(1), kth.values._host_values())
    assert x.median().item() == np.sort(a.ravel())[19]
    med = x.median(0, keepdim=True)
    assert_close(med.values, np.sort(a, 0)[2:3])
    with_nan = cltorch.tensor([[1.0, float("nan"), 3.0], [3.0, 2.0, 1.0]], device=device)
    m = with_nan.median(1)
    assert np.isnan(m.values.tolist()[0]) and m.indices.tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        x.topk(9)


def test_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).permutation(60).reshape(3, 4, 5).astype(np.float32)
    a[0, 1, 2] = np.nan
    for fn in (lambda t: t.sort(1).values, lambda t: t.sort(-1, descending=True).indices,
               lambda t: t.topk(2, 0).indices, lambda t: t.kthvalue(2, 2).values,
               lambda t: t.argsort(0), lambda t: t.median(2).values, lambda t: t.msort()):
        want = fn(torch.from_numpy(a))
        got = fn(cltorch.tensor(a, device=device))
        assert got.shape == tuple(want.shape)
        assert_close(got, want.numpy())
