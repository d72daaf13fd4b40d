"""Bernoulli(probs=... | logits=...)."""
from __future__ import annotations

from ..nn import functional as F
from ..tensor import Size
from .distribution import Distribution, broadcast_all
from .utils import clamp_probs, params_from


class Bernoulli(Distribution):
    _params = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        probs, logits = params_from(probs, logits)
        if probs is not None:
            self.probs, = broadcast_all(probs)
            clamped = clamp_probs(self.probs)
            self.logits = clamped.log() - (-clamped).log1p()
        else:
            self.logits, = broadcast_all(logits)
            self.probs = self.logits.sigmoid()
        super().__init__(self.probs.shape, Size(), validate_args)
        if probs is not None:
            self._check("probs", self.probs, (self.probs >= 0) & (self.probs <= 1),
                        "Interval(lower_bound=0.0, upper_bound=1.0)")

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=Size()):
        from ..autograd.grad_mode import no_grad
        from ..api.random import bernoulli
        with no_grad():
            return bernoulli(self.probs.expand(*self._extended_shape(sample_shape)))

    def log_prob(self, value):
        logits, value = broadcast_all(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value.to(logits.dtype),
                                                   reduction="none")

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
