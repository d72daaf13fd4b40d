"""The NumPy fallback: always available; a buffer is a 1-D NumPy array of the stored bits."""
from __future__ import annotations

import os
import platform

import numpy as np

from .base import Device, DeviceInfo, OutOfMemoryError, initial_limit


class CPUDevice(Device):
    kind = "cpu"

    def __init__(self, index: int):
        super().__init__(index)
        initial_limit(self)

    def info(self) -> DeviceInfo:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory = 0
        return DeviceInfo("cpu", 0, platform.processor() or platform.machine(), vendor="NumPy",
                          type="CPU", compute_units=os.cpu_count() or 1, global_mem_bytes=memory,
                          max_alloc_bytes=memory, version=f"NumPy {np.__version__}")

    def allocate(self, nbytes: int):
        self.check_limit(nbytes)
        try:
            return np.empty(nbytes, dtype=np.uint8)
        except MemoryError:
            raise OutOfMemoryError(f"cpu out of memory allocating {nbytes} bytes") from None

    def upload(self, host: np.ndarray, blocking: bool = True):
        self.check_limit(host.nbytes)
        return np.frombuffer(host.tobytes(), dtype=np.uint8).copy()

    def download(self, buffer, offset_bytes: int, out: np.ndarray) -> np.ndarray:
        out.view(np.uint8).reshape(-1)[:] = buffer[offset_bytes:offset_bytes + out.nbytes]
        return out
