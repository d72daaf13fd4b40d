"""Helpers shared by the distributions: probability clamping, probs/logits arguments."""
from __future__ import annotations

import numpy as np


def clamp_probs(probs):
    """Probabilities kept a machine epsilon away from 0 and 1 (finite logits)."""
    eps = float(np.finfo(probs.dtype.storage_np if probs.dtype.itemsize >= 4 else
                         np.float32).eps)
    return probs.clamp(min=eps, max=1 - eps)


def params_from(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")
    return probs, logits
