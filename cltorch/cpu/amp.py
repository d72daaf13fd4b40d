"""``torch.cpu.amp``: ``autocast`` for the cpu device type (bfloat16 by default)."""
from ..amp.autocast_mode import autocast as _autocast


class autocast(_autocast):  # noqa: N801 - PyTorch's name
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16)``."""

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        super().__init__("cpu", dtype=dtype, enabled=enabled)
