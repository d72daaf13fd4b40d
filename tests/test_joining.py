"""Joining and rearranging on every device, against NumPy and (where installed) PyTorch."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch


def _t(a, device, dtype=None):
    """``a`` on ``device``, NumPy's float64 as float32 (devices without fp64 run these too)."""
    if dtype is None and np.asarray(a).dtype == np.float64:
        dtype = cltorch.float32
    return cltorch.tensor(a, device=device, dtype=dtype)


def test_cat_stack(device):
    a, b = np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(3, 3)
    x, y = _t(a, device), _t(b, device)
    assert_close(cltorch.cat([x, y]), np.concatenate([a, b]))
    assert_close(cltorch.cat([x.t(), y.t()], dim=-1), np.concatenate([a.T, b.T], -1))
    assert_close(cltorch.stack([x, x * 2], 1), np.stack([a, a * 2], 1))
    assert_close(cltorch.hstack([x, x]), np.hstack([a, a]))
    assert_close(cltorch.vstack([x[0], y]), np.vstack([a[0], b]))
    mixed = cltorch.cat([_t([1, 2], device), _t([0.5], device)])
    assert mixed.dtype is cltorch.float32 and mixed.tolist() == [1.0, 2.0, 0.5]
    assert cltorch.cat([_t([], device), x]).shape == (2, 3)  # legacy: 1-D empty is skipped
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        cltorch.cat([x, cltorch.ones(2, 2, device=device)])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        cltorch.stack([x, y])


def test_split_chunk_are_views(device):
    x = cltorch.arange(10.0, device=device)
    parts = x.split(3)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert all(p.storage().data_ptr() == x.storage().data_ptr() for p in parts)
    assert [p.numel() for p in x.split([2, 8])] == [2, 8]
    assert [p.numel() for p in x.chunk(4)] == [3, 3, 3, 1]
    assert [p.numel() for p in x.tensor_split(3)] == [4, 3, 3]
    assert [p.tolist() for p in x.tensor_split([2, 5])][1] == [2.0, 3.0, 4.0]
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum"):
        x.split([2, 2])


def test_rearranging(device):
    a = np.arange(24).reshape(2, 3, 4)
    x = _t(a, device)
    assert_close(x.flip([0, 2]), a[::-1, :, ::-1])
    assert_close(x.roll(1, 2), np.roll(a, 1, 2))
    assert_close(x.roll((1, -2), (0, 2)), np.roll(a, (1, -2), (0, 2)))
    assert_close(x.roll(5), np.roll(a, 5))
    for k in range(-1, 4):
        assert_close(x.rot90(k, (1, 2)), np.rot90(a, k, (1, 2)))
    assert_close(x.repeat(2, 1, 3), np.tile(a, (2, 1, 3)))
    assert_close(x[0].repeat(2, 1, 2), np.tile(a[0], (2, 1, 2)))
    assert_close(x.tile((2,)), np.tile(a, 2))
    assert_close(x.repeat_interleave(2, 1), np.repeat(a, 2, 1))
    assert_close(x.repeat_interleave(2), np.repeat(a, 2))
    counts = cltorch.tensor([0, 2, 1], device=device)
    assert_close(x.repeat_interleave(counts, dim=1), np.repeat(a, [0, 2, 1], 1))
    assert cltorch.repeat_interleave(counts).tolist() == [1, 1, 2]
    assert_close(x.repeat_interleave(cltorch.tensor([2], device=device), dim=0),
                 np.repeat(a, 2, 0))
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        x.repeat_interleave(cltorch.tensor([-1, 1], device=device), dim=0)
    assert_close(x.movedim(0, -1), np.moveaxis(a, 0, -1))
    assert_close(x.movedim((0, 1), (2, 0)), np.moveaxis(a, (0, 1), (2, 0)))
    w = cltorch.arange(7, device=device).unfold(0, 3, 2)
    assert w.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]


def test_triangles_and_diagonals(device):
    a = np.arange(1.0, 21.0).reshape(4, 5)
    x = _t(a, device)
    for k in (-2, 0, 1, 4):
        assert_close(x.tril(k), np.tril(a, k))
        assert_close(x.triu(k), np.triu(a, k))
        assert_close(x.diagonal(k), np.diagonal(a, k))
        assert_close(cltorch.diag(x, k), np.diag(a, k))
    assert cltorch.tril(_t([[True, True], [True, True]], device)).dtype is cltorch.bool
    assert_close(cltorch.diag(_t([1.0, 2.0], device), 1), np.diag([1.0, 2.0], 1))
    assert x.trace().item() == np.trace(a)
    b = np.arange(24.0).reshape(2, 3, 4)
    assert_close(_t(b, device).diagonal(0, 0, 2), np.diagonal(b, 0, 0, 2))


def test_broadcast_and_meshgrid(device):
    a, b = _t([1, 2, 3], device), _t([[10], [20]], device)
    x, y = cltorch.broadcast_tensors(a, b)
    assert x.shape == y.shape == (2, 3)
    gx, gy = cltorch.meshgrid(a, _t([4, 5], device), indexing="ij")
    nx, ny = np.meshgrid([1, 2, 3], [4, 5], indexing="ij")
    assert_close(gx, nx)
    assert_close(gy, ny)
    gx, gy = cltorch.meshgrid(a, _t([4, 5], device), indexing="xy")
    nx, ny = np.meshgrid([1, 2, 3], [4, 5], indexing="xy")
    assert_close(gx, nx)
    assert_close(gy, ny)


def test_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.arange(30.0, dtype=np.float32).reshape(5, 6)
    cases = [lambda m, t: m.cat([t, t], 1), lambda m, t: m.stack([t, t], -1),
             lambda m, t: t.flip(1), lambda m, t: t.roll(-2, 0), lambda m, t: t.rot90(3),
             lambda m, t: t.repeat(2, 2), lambda m, t: t.triu(-1), lambda m, t: t.diagonal(2),
             lambda m, t: t.unfold(1, 2, 3), lambda m, t: m.tensor_split(t, 4, 1)[3]]
    for case in cases:
        want = case(torch, torch.tensor(a))
        got = case(cltorch, cltorch.tensor(a, device=device))
        assert got.shape == tuple(want.shape)
        assert_close(got, want.numpy())


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "bool", "int64"])
def test_cat_of_strided_views_matches_numpy(device, dtype):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 10)) > 0 if dtype == "bool" else rng.integers(-9, 9, (6, 10))
    x = cltorch.tensor(base, device=device).to(getattr(cltorch, dtype))

    def same(got, want):
        assert got.to(cltorch.float32).tolist() == want.astype(np.float32).tolist()
    same(cltorch.cat([x[:, ::2], x[:, 2:7]], 1), np.concatenate([base[:, ::2], base[:, 2:7]], 1))
    same(cltorch.cat([x[:, ::2].t(), x[1:4, ::2].t()], 1),  # transposed, non-contiguous views
         np.concatenate([base[:, ::2].T, base[1:4, ::2].T], 1))
    same(cltorch.stack([x[0], x[3], x[5]], 1), np.stack([base[0], base[3], base[5]], 1))
