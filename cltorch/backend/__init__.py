"""Devices, memory and kernel launch: the NumPy fallback, OpenCL and CUDA behind one contract."""
from .base import BackendUnavailable, CompileError, Device, DeviceInfo, OutOfMemoryError
from .registry import all_devices, default, device, device_count, get, public, set_default

__all__ = ["BackendUnavailable", "CompileError", "Device", "DeviceInfo", "OutOfMemoryError",
           "all_devices", "default", "device", "device_count", "get", "public", "set_default"]
