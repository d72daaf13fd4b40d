"""``cltorch.utils``: ``data`` (datasets, samplers, DataLoader), ``checkpoint``,
``tensorboard`` (import only)."""
from . import checkpoint, data  # noqa: F401
