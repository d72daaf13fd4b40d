"""``cltorch.cpu`` (``torch.cpu``): the host device, with ``torch.cpu.amp``."""
from . import amp  # noqa: F401


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device=None) -> None:
    """Nothing to wait for: the NumPy backend runs each op to completion."""
