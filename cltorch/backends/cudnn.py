"""``torch.backends.cudnn``: flags accepted and stored (cltorch has no cuDNN)."""
benchmark = False
deterministic = False
enabled = True
allow_tf32 = True
benchmark_limit = 10


def is_available() -> bool:
    """cuDNN is NVIDIA's library; cltorch does not use it."""
    return False


def version():
    return None


class flags:  # noqa: N801 - PyTorch's name
    """``with torch.backends.cudnn.flags(enabled=..., benchmark=..., deterministic=...)``."""

    def __init__(self, enabled=False, benchmark=False, benchmark_limit=10, deterministic=False,
                 allow_tf32=True):
        self._new = dict(enabled=enabled, benchmark=benchmark, deterministic=deterministic,
                         allow_tf32=allow_tf32, benchmark_limit=benchmark_limit)
        self._old = {}

    def __enter__(self):
        self._old = {k: globals()[k] for k in self._new}
        globals().update(self._new)

    def __exit__(self, *exc):
        globals().update(self._old)
        return False
