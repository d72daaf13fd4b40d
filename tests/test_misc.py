"""isclose/allclose/equal, diff, cross, cosine_similarity, cdist and windows against PyTorch
(where installed) and NumPy, on every device."""
import math

import numpy as np
import pytest
from conftest import assert_close

import cltorch


def test_closeness(device):
    a = cltorch.tensor([1.0, math.inf, math.nan, 1e-9, 2.0], device=device)
    b = cltorch.tensor([1.0 + 1e-7, math.inf, math.nan, 0.0, 2.1], device=device)
    assert cltorch.isclose(a, b).tolist() == [True, True, False, True, False]
    assert cltorch.isclose(a, b, equal_nan=True).tolist()[2] is True
    assert not cltorch.allclose(a, b) and cltorch.allclose(a[:2], b[:2])
    assert cltorch.equal(a[:2], a[:2].clone()) and not cltorch.equal(a, a[:2])


def test_diff_cross_similarity_distance(device):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    x, y = (cltorch.tensor(v, dtype=cltorch.float32, device=device) for v in (a, b))
    assert_close(x.diff(), np.diff(a), rtol=1e-6)
    assert_close(cltorch.diff(x, 2, 0), np.diff(a, 2, 0), rtol=1e-5, atol=1e-6)
    assert_close(cltorch.diff(x, prepend=x[:, :1], dim=1), np.diff(a, prepend=a[:, :1], axis=1))
    assert_close(cltorch.cross(x, y, dim=1), np.cross(a, b), rtol=1e-5, atol=1e-6)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert_close(cltorch.cosine_similarity(x, y), cos, rtol=1e-5)
    dist = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    assert_close(cltorch.cdist(x, y), dist, rtol=1e-5)
    assert_close(cltorch.cdist(x, y, 1), np.abs(a[:, None] - b[None]).sum(-1), rtol=1e-5)


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window",
                                  "bartlett_window", "kaiser_window"])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("n", [0, 1, 8, 11])
def test_windows_match_torch(device, name, periodic, n):
    torch = pytest.importorskip("torch")
    want = getattr(torch, name)(n, periodic=periodic).numpy()
    got = getattr(cltorch, name)(n, periodic=periodic, device=device)
    assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_misc_matches_torch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 3)).astype(
        np.float32)
    for fn in (lambda m, x, y: m.cosine_similarity(x, y, dim=1) if m is cltorch else
               m.nn.functional.cosine_similarity(x, y, dim=1),
               lambda m, x, y: m.cdist(x, y), lambda m, x, y: m.cross(x, y, dim=1),
               lambda m, x, y: m.diff(x, n=2, dim=0)):
        want = fn(torch, torch.from_numpy(a), torch.from_numpy(b)).numpy()
        got = fn(cltorch, cltorch.tensor(a, device=device), cltorch.tensor(b, device=device))
        assert_close(got, want, rtol=1e-5, atol=1e-6)
