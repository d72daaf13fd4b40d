"""``cltorch.accelerator`` (``torch.accelerator``): the current accelerator, vendor-neutral.

The accelerator is what ``cuda`` names (see ``cltorch.cuda``): the CUDA backend's GPUs where an
NVIDIA driver is present, else the OpenCL GPUs; CLTORCH_CUDA pins it.
"""
from __future__ import annotations

from . import cuda as _cuda
from .backend import registry as _registry


def is_available() -> bool:
    return _cuda.is_available()


def device_count() -> int:
    return _cuda.device_count()


def current_accelerator(check_available: bool = False):
    """``device(type='cuda')`` when there is an accelerator, else None."""
    if not is_available():
        return None
    return _registry.device("cuda")


def current_device_index() -> int:
    return _cuda.current_device()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    _cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    _cuda.synchronize(device)


def current_stream(device=None):
    return _cuda.current_stream(device)


class device_index:  # noqa: N801 - PyTorch's name
    """Context manager making ``device`` the current accelerator index."""

    def __init__(self, device):
        self._inner = _cuda.device(device)

    def __enter__(self):
        return self._inner.__enter__()

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)


def empty_cache() -> None:
    _cuda.empty_cache()


def memory_allocated(device=None) -> int:
    return _cuda.memory_allocated(device)


def max_memory_allocated(device=None) -> int:
    return _cuda.max_memory_allocated(device)


def reset_peak_memory_stats(device=None) -> None:
    _cuda.reset_peak_memory_stats(device)
