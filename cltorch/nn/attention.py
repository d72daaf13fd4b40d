"""``torch.nn.attention``: the attention-backend switch, accepted (cltorch's
``scaled_dot_product_attention`` has one implementation, the math form)."""
from __future__ import annotations

import contextlib
import enum


class SDPBackend(enum.IntEnum):
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority: bool = False):
    """Accepted: attention runs the same (math) kernel whichever backends are named."""
    yield
