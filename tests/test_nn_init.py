"""nn.init (statistics and exact structures) and the remaining functional helpers, on every
device; against PyTorch where it is installed."""
import math

import numpy as np
import pytest
from conftest import assert_close

import cltorch
import cltorch.nn as nn
import cltorch.nn.functional as F
from cltorch.nn import init


def test_gains_and_fans():
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("tanh") == 5.0 / 3 and init.calculate_gain("conv2d") == 1
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("wavy")
    assert init._calculate_fan_in_and_fan_out(cltorch.empty(8, 3, 5, 5)) == (75, 200)


def test_distributions(device):
    cltorch.manual_seed(0)
    w = cltorch.empty(200, 300, device=device)
    bound = math.sqrt(6.0 / 500)
    v = init.xavier_uniform_(w)._host_values()
    assert np.abs(v).max() <= bound and abs(v.std() - bound / math.sqrt(3)) < 0.01 * bound
    v = init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")._host_values()
    assert abs(v.std() - math.sqrt(2.0 / 200)) < 0.003
    v = init.trunc_normal_(w, mean=1.0, std=2.0, a=-1.0, b=2.0)._host_values()
    assert v.min() >= -1.0 and v.max() <= 2.0 and abs(v.mean() - 0.57) < 0.05
    v = init.normal_(w, 3.0, 0.5)._host_values()
    assert abs(v.mean() - 3.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    assert init.constant_(cltorch.empty(3, device=device), 2.5).tolist() == [2.5] * 3
    assert init.zeros_(cltorch.ones(2, device=device)).tolist() == [0.0, 0.0]
    assert init.ones_(cltorch.zeros(2, device=device)).tolist() == [1.0, 1.0]


def test_structured_inits(device):
    assert init.eye_(cltorch.empty(2, 3, device=device)).tolist() == [[1, 0, 0], [0, 1, 0]]
    d = init.dirac_(cltorch.empty(4, 2, 3, 3, device=device), groups=2)._host_values()
    assert d.sum() == 4 and d[0, 0, 1, 1] == 1 and d[2, 0, 1, 1] == 1 and d[1, 1, 1, 1] == 1
    q = init.orthogonal_(cltorch.empty(4, 6, device=device))._host_values()
    assert_close(q @ q.T, np.eye(4), atol=1e-5)
    s = init.sparse_(cltorch.empty(10, 4, device=device), 0.3)._host_values()
    assert all((s[:, c] == 0).sum() >= 3 for c in range(4))
    leaf = nn.Parameter(cltorch.empty(3, device=device))
    init.uniform_(leaf, -1, 1)  # in place on a parameter: runs without grad
    assert leaf.grad_fn is None and leaf.requires_grad


def test_layers_initialise_like_pytorch():
    torch = pytest.importorskip("torch")
    cltorch.manual_seed(0)
    torch.manual_seed(0)
    for ours, theirs in ((nn.Linear(50, 20), torch.nn.Linear(50, 20)),
                         (nn.Conv2d(4, 6, 3), torch.nn.Conv2d(4, 6, 3)),
                         (nn.LSTM(10, 8), torch.nn.LSTM(10, 8)),
                         (nn.Embedding(40, 5), torch.nn.Embedding(40, 5))):
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            a, b = p._host_values(), q.detach().numpy()
            assert a.shape == b.shape, name
            # the same distribution: equal ranges and spreads within sampling error (spreads
            # only where there are enough values to estimate them)
            assert abs(np.abs(a).max() - np.abs(b).max()) < 0.35 * np.abs(b).max() + 1e-6, name
            if a.size >= 100:
                assert abs(a.std() - b.std()) < 0.2 * b.std(), name


def test_functional_helpers(device):
    x = cltorch.tensor([[3.0, 4.0], [0.0, 0.0]], device=device)
    assert_close(F.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    assert F.one_hot(cltorch.tensor([0, 2], device=device)).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert F.one_hot(cltorch.tensor([1], device=device), 4).dtype is cltorch.int64
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(cltorch.tensor([3], device=device), 2).tolist()  # raised at a sync
    a, b = cltorch.tensor([[1.0, 2.0]], device=device), cltorch.tensor([[4.0, 6.0]], device=device)
    assert_close(F.pairwise_distance(a, b), [math.hypot(3 - 1e-6, 4 - 1e-6)], rtol=1e-5)
    assert_close(F.cosine_similarity(a, b), [(4 + 12) / (math.sqrt(5) * math.sqrt(52))])
    cltorch.manual_seed(1)
    y = nn.AlphaDropout(0.2)(cltorch.randn(20000, device=device))._host_values()
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05  # keeps SELU's statistics
    z = F.dropout1d(cltorch.ones(4, 30, 5, device=device), 0.5)._host_values()
    assert all(len(np.unique(row)) == 1 for row in z.reshape(120, 5))
    up = F.interpolate(cltorch.arange(3.0, device=device).reshape(1, 1, 3), scale_factor=2)
    assert up.tolist() == [[[0.0, 0.0, 1.0, 1.0, 2.0, 2.0]]]


def test_embedding_bag_matches_torch(device):
    torch = pytest.importorskip("torch")
    weight = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    idx, offsets = np.array([1, 2, 4, 5, 4, 3]), np.array([0, 2, 2, 5])
    for mode in ("sum", "mean", "max"):
        want = torch.nn.functional.embedding_bag(torch.tensor(idx), torch.tensor(weight),
                                                 torch.tensor(offsets), mode=mode)
        got = F.embedding_bag(cltorch.tensor(idx, device=device),
                              cltorch.tensor(weight, device=device),
                              cltorch.tensor(offsets, device=device), mode=mode)
        assert_close(got, want.numpy(), rtol=1e-5)
