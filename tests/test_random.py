"""Philox random numbers: known-answer vectors, the same bits on every device for the same
seed, statistics per device (moments and a Kolmogorov-Smirnov distance), and the API."""
import math

import numpy as np
import pytest
from conftest import assert_close

import cltorch
from cltorch.ops.random import philox


def _words(seed, offset, start):
    return [int(w[0]) for w in philox(1, seed, offset, start)]


def test_philox_known_answers():
    # Random123's known-answer vectors for philox4x32-10 (counter, key -> output)
    assert _words(0, 0, 0) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert _words(0x299F31D0A4093822, 0x0370734413198A2E, 0x85A308D3243F6A88) == \
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def _draws(device, fp64=True):
    """A fixed sequence of draws; ``fp64=False`` leaves out the float64 one (the device
    under test has no fp64), so that the reference's generator advances alike."""
    cltorch.manual_seed(1234)
    return {"rand": cltorch.rand(3, 1000, device=device),
            "rand64": cltorch.rand(500, dtype=cltorch.float64, device=device) if fp64 else None,
            "randint": cltorch.randint(-5, 1000, (777,), device=device),
            "bernoulli": cltorch.bernoulli(cltorch.full((300,), 0.3, device=device)),
            "half": cltorch.rand(200, dtype=cltorch.float16, device=device),
            "randperm": cltorch.randperm(50, device=device),
            "normal": cltorch.randn(2000, device=device)}


def test_same_numbers_on_every_device(device):
    fp64 = cltorch.backend.get(device).supports_fp64
    here, cpu = _draws(device, fp64), _draws("cpu", fp64)
    for name, t in here.items():
        if t is None:
            continue
        got, want = t._host_values(), cpu[name]._host_values()
        if name == "normal":  # log/cos of the device vs NumPy: last-bit differences allowed
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        else:
            assert np.array_equal(got, want), name


def _ks_uniform(sample):
    s = np.sort(sample)
    n = s.size
    return max(np.max(np.arange(1, n + 1) / n - s), np.max(s - np.arange(n) / n))


def _ks_normal(sample):
    s = np.sort(sample)
    n = s.size
    cdf = 0.5 * (1 + np.vectorize(math.erf)(s / math.sqrt(2)))
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


def test_distributions(device):
    n = 200_000
    cltorch.manual_seed(7)
    u = cltorch.rand(n, device=device)._host_values().astype(np.float64)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert _ks_uniform(u) < 1.63 / math.sqrt(n)  # 1% critical value
    z = cltorch.randn(n, device=device)._host_values().astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert _ks_normal(z[:20000]) < 1.63 / math.sqrt(20000)
    g = cltorch.normal(3.0, 2.0, (n,), device=device)._host_values()
    assert abs(g.mean() - 3) < 0.03 and abs(g.std() - 2) < 0.03
    k = cltorch.randint(10, (n,), device=device)._host_values()
    assert k.min() == 0 and k.max() == 9 and np.all(np.abs(np.bincount(k) / n - 0.1) < 0.005)
    b = cltorch.empty(n, device=device).bernoulli_(0.25)._host_values()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.25) < 0.005
    e = cltorch.empty(n, device=device).exponential_(2.0)._host_values()
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 0.01
    p = cltorch.randperm(1000, device=device)._host_values()
    assert sorted(p.tolist()) == list(range(1000))


def test_log_normal_cauchy_geometric(device):
    n = 200_000
    cltorch.manual_seed(3)
    ln = cltorch.empty(n, device=device).log_normal_(0.5, 0.25)._host_values()
    assert ln.min() > 0 and abs(np.log(ln).mean() - 0.5) < 0.005
    assert abs(np.log(ln).std() - 0.25) < 0.005
    c = cltorch.empty(n, device=device).cauchy_(2.0, 3.0)._host_values()
    quartiles = np.percentile(c, [25, 50, 75])  # median +- sigma for a Cauchy law
    assert np.all(np.abs(quartiles - [-1.0, 2.0, 5.0]) < 0.1), quartiles
    for dtype in (cltorch.float32, cltorch.int64):
        g = cltorch.empty(n, dtype=dtype, device=device).geometric_(0.2)._host_values()
        assert g.min() == 1 and np.all(g == np.round(g))
        assert abs(g.mean() - 5.0) < 0.1 and abs((g == 1).mean() - 0.2) < 0.005


def test_seeding_and_state(device):
    cltorch.manual_seed(42)
    a = cltorch.rand(10, device=device)
    state = cltorch.get_rng_state()
    b = cltorch.rand(10, device=device)
    cltorch.set_rng_state(state)
    assert cltorch.rand(10, device=device).tolist() == b.tolist()
    cltorch.manual_seed(42)
    assert cltorch.rand(10, device=device).tolist() == a.tolist()
    assert a.tolist() != b.tolist() and cltorch.initial_seed() == 42
    g = cltorch.Generator().manual_seed(42)
    assert cltorch.rand(10, generator=g, device=device).tolist() == a.tolist()


def test_in_place_on_views_and_errors(device):
    x = cltorch.zeros(4, 6, device=device)
    x[:, ::2].uniform_(5, 6)
    v = x._host_values()
    assert np.all((v[:, ::2] >= 5) & (v[:, ::2] < 6)) and np.all(v[:, 1::2] == 0)
    x.normal_(0, 0)
    assert_close(x, np.zeros((4, 6)))
    with pytest.raises(RuntimeError, match="'from' to be less than 'to'"):
        cltorch.randint(5, 5, (2,), device=device)
    with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
        cltorch.rand(2, dtype=cltorch.int64, device=device)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        cltorch.normal(0.0, -1.0, (2,), device=device)
    assert cltorch.randint(3, (2, 2), device=device).dtype is cltorch.int64
