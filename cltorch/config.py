"""Process-wide settings read from the environment: a leaf module.

- ``CLTORCH_DEVICE``: the default device for new tensors (``cpu`` unless set), as
  ``cltorch.set_default_device`` would set it.
- ``CLTORCH_CUDA``: the devices that ``cuda:0``, ``cuda:1``... name (``opencl:1``,
  ``opencl:0,opencl:1``, ``none``); unset, the CUDA backend's GPUs, else the OpenCL GPUs.
- ``CLTORCH_MEMORY_FRACTION``: the share of each device's memory live tensors may hold, as
  ``torch.cuda.set_per_process_memory_fraction`` sets it (default: no limit on GPUs, all of
  its reported memory on a host-memory device).
- ``CLTORCH_CACHE_DIR``: where compiled kernel binaries are kept (default: the user cache dir).
"""
from __future__ import annotations

import os

import platformdirs

VERSION = "0.1.0"


def cache_dir() -> str:
    """Directory of the on-disk kernel binary cache (created on first use)."""
    path = os.environ.get("CLTORCH_CACHE_DIR") or platformdirs.user_cache_dir("cltorch")
    os.makedirs(path, exist_ok=True)
    return path


def default_device_string() -> str:
    return os.environ.get("CLTORCH_DEVICE", "cpu")


def accelerator_pin():
    """CLTORCH_CUDA, or None when unset."""
    return os.environ.get("CLTORCH_CUDA")


def memory_fraction():
    """CLTORCH_MEMORY_FRACTION as a float in [0, 1], or None when unset."""
    text = os.environ.get("CLTORCH_MEMORY_FRACTION")
    if text is None or not text.strip():
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"CLTORCH_MEMORY_FRACTION={text}: allowed range is 0~1")
    return value
