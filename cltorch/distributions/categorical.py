"""Categorical(probs=... | logits=...) over the last dim, and OneHotCategorical."""
from __future__ import annotations

from ..tensor import Size
from .distribution import Distribution
from .utils import params_from


class Categorical(Distribution):
    _params = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        probs, logits = params_from(probs, logits)
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = self.probs.clamp(min=_tiny(self.probs)).log()
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = self.logits.softmax(-1)
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1], Size(), validate_args)
        if probs is not None:
            self._check("probs", probs, probs >= 0, "Simplex()")

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):
        return self.probs.new_full(tuple(self._extended_shape()), float("nan"))

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return self.probs.new_full(tuple(self._extended_shape()), float("nan"))

    def sample(self, sample_shape=Size()):
        from ..autograd.grad_mode import no_grad
        from ..api.search import multinomial
        sample_shape = Size(sample_shape)
        with no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            n = max(1, sample_shape.numel())
            drawn = multinomial(probs_2d, n, True).t()
            return drawn.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value):
        from ..api.layout import broadcast_tensors
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        logits = self.logits.clamp(min=_lowest(self.logits))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        from ..api.creation import arange
        values = arange(self._num_events, device=self.probs.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values


class OneHotCategorical(Distribution):
    """One-hot vectors of a Categorical's draws."""

    _params = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args)
        self.probs, self.logits = self._categorical.probs, self._categorical.logits
        super().__init__(self._categorical.batch_shape, self.probs.shape[-1:], validate_args)

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=Size()):
        from ..nn.functional import one_hot
        draws = self._categorical.sample(sample_shape)
        return one_hot(draws, self.probs.shape[-1]).to(self.probs.dtype)

    def log_prob(self, value):
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()


def _tiny(t):
    import numpy as np
    return float(np.finfo(np.float32 if t.dtype.itemsize < 4 else t.dtype.storage_np).tiny)


def _lowest(t):
    import numpy as np
    return float(np.finfo(np.float32 if t.dtype.itemsize < 4 else t.dtype.storage_np).min)
