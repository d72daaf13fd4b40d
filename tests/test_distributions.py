"""torch.distributions basics against PyTorch: log_prob, entropy, moments, KL, gradients
through rsample, sample shapes and statistics, argument checks."""
import numpy as np
import pytest

import cltorch
from cltorch import distributions as D

from conftest import assert_close

rng = np.random.default_rng(11)
LOC = rng.standard_normal((3, 2)).astype(np.float32)
SCALE = rng.uniform(0.5, 2.0, (3, 2)).astype(np.float32)
VALUE = rng.standard_normal((3, 2)).astype(np.float32)
PROBS = rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
LOGITS = rng.standard_normal((3, 4)).astype(np.float32)

# name -> (constructor of p for namespace m and a tensor maker t, the value log_prob is asked)
CASES = {
    "Normal": (lambda m, t: m.distributions.Normal(t(LOC), t(SCALE)), VALUE),
    "Uniform": (lambda m, t: m.distributions.Uniform(t(LOC) - 2, t(LOC) + t(SCALE)),
                LOC.copy()),
    "Bernoulli probs": (lambda m, t: m.distributions.Bernoulli(probs=t(PROBS)),
                        (PROBS > 0.5).astype(np.float32)),
    "Bernoulli logits": (lambda m, t: m.distributions.Bernoulli(logits=t(LOGITS)),
                         (LOGITS > 0).astype(np.float32)),
    "Categorical probs": (lambda m, t: m.distributions.Categorical(probs=t(PROBS)),
                          np.array([0, 3, 1])),
    "Categorical logits": (lambda m, t: m.distributions.Categorical(logits=t(LOGITS)),
                           np.array([2, 2, 0])),
    "Independent Normal": (lambda m, t: m.distributions.Independent(
        m.distributions.Normal(t(LOC), t(SCALE)), 1), VALUE),
}


def _maker(m, device):
    return lambda a: m.tensor(a).to(device)


@pytest.mark.parametrize("name", sorted(CASES))
def test_log_prob_entropy_moments_match_pytorch(name, device):
    torch = pytest.importorskip("torch")
    make, value = CASES[name]
    ours, theirs = make(cltorch, _maker(cltorch, device)), make(torch, _maker(torch, "cpu"))
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    v = cltorch.tensor(value, device=device)
    assert_close(ours.log_prob(v), theirs.log_prob(torch.tensor(value)).numpy(), rtol=1e-5,
                 atol=1e-6)
    assert_close(ours.entropy(), theirs.entropy().numpy(), rtol=1e-5, atol=1e-6)
    if not name.startswith("Categorical"):
        assert_close(ours.mean, theirs.mean.numpy(), rtol=1e-6)
        assert_close(ours.variance, theirs.variance.numpy(), rtol=1e-5)
    sample = ours.sample((5,))
    assert tuple(sample.shape) == (5,) + tuple(theirs.batch_shape) + tuple(theirs.event_shape)
    assert not sample.requires_grad


KL_PAIRS = {
    "Normal": lambda m, t, a, b: (m.distributions.Normal(t(a), t(np.abs(b) + 0.5)),
                                  m.distributions.Normal(t(b), t(np.abs(a) + 0.5))),
    "Categorical": lambda m, t, a, b: (m.distributions.Categorical(logits=t(a)),
                                       m.distributions.Categorical(logits=t(b))),
    "Bernoulli": lambda m, t, a, b: (m.distributions.Bernoulli(logits=t(a)),
                                     m.distributions.Bernoulli(logits=t(b))),
    "Uniform": lambda m, t, a, b: (m.distributions.Uniform(t(a) - 1, t(a) + 1),
                                   m.distributions.Uniform(t(a) - 2, t(a) + 2)),
}


@pytest.mark.parametrize("name", sorted(KL_PAIRS))
def test_kl_divergence_matches_pytorch(name, device):
    torch = pytest.importorskip("torch")
    a, b = LOGITS, np.roll(LOGITS, 1, axis=1)
    ours = D.kl_divergence(*KL_PAIRS[name](cltorch, _maker(cltorch, device), a, b))
    theirs = torch.distributions.kl_divergence(*KL_PAIRS[name](torch, _maker(torch, "cpu"),
                                                               a, b))
    assert_close(ours, theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_rsample_gradients_and_sample_statistics(device):
    cltorch.manual_seed(0)
    loc = cltorch.tensor([1.0, -2.0], device=device, requires_grad=True)
    scale = cltorch.tensor([0.5, 2.0], device=device, requires_grad=True)
    normal = D.Normal(loc, scale)
    draws = normal.rsample((20000,))
    draws.mean().backward()
    assert_close(loc.grad, [0.5, 0.5], rtol=1e-3)  # d mean / d loc
    assert_close(draws.detach().mean(0), [1.0, -2.0], atol=0.05)
    assert_close(draws.detach().std(0), [0.5, 2.0], rtol=0.05)
    counts = np.bincount(D.Categorical(probs=cltorch.tensor([0.2, 0.3, 0.5], device=device))
                         .sample((20000,)).cpu().numpy(), minlength=3) / 20000
    assert_close(counts, [0.2, 0.3, 0.5], atol=0.02)
    coin = D.Bernoulli(probs=cltorch.tensor([0.25], device=device)).sample((20000,))
    assert abs(coin.mean().item() - 0.25) < 0.02


def test_argument_checks():
    with pytest.raises(ValueError, match="constraint GreaterThan"):
        D.Normal(cltorch.zeros(2), cltorch.tensor([1.0, -1.0]))
    D.Normal(cltorch.zeros(2), cltorch.tensor([1.0, -1.0]), validate_args=False)
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Bernoulli()
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Categorical(probs=cltorch.ones(2), logits=cltorch.ones(2))
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(probs=cltorch.tensor(0.5)))
