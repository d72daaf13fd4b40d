"""Device strings (``cpu``, ``opencl``, ``opencl:1``, ``cuda:0``) and the backend Device objects."""
from __future__ import annotations

import functools

from .. import config
from .base import BackendUnavailable, Device
from .cpu import CPUDevice

KINDS = ("cpu", "opencl", "cuda")


class device:
    """A device as PyTorch names it: ``cltorch.device("opencl:0")``, ``device("cuda", 1)``."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, str) and ":" in type:
            if index is not None:
                raise ValueError(f"type (string) must not include an index because index was "
                                 f"passed explicitly: {type}")
            type, _, text = type.partition(":")
            if not text.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{text}'")
            index = int(text)
        if type not in KINDS:
            raise RuntimeError(f"Expected one of {', '.join(KINDS)} device type at start of "
                               f"device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type, self.index = type, index

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


def device_count(kind: str) -> int:
    """How many devices a backend has (0 when its package or driver is missing)."""
    if kind == "cpu":
        return 1
    if kind == "opencl":
        from . import opencl
        return opencl.device_count()
    from . import cuda
    return cuda.device_count()


def get(spec) -> Device:
    """The backend Device for a device string, ``device`` or backend Device."""
    if isinstance(spec, Device):
        return spec
    d = spec if isinstance(spec, device) else device(spec)
    return _open(d.type, d.index or 0)


@functools.lru_cache(maxsize=None)
def _open(kind: str, index: int) -> Device:
    if kind == "cpu":
        return CPUDevice(0)
    if kind == "opencl":
        from .opencl import OpenCLDevice, _cl
        _cl()
        return OpenCLDevice(index)
    from .cuda import CUDADevice, _bindings
    _bindings()
    if device_count("cuda") == 0:
        raise BackendUnavailable("Found no NVIDIA driver or CUDA GPU on this machine: the cuda "
                                 "backend is unavailable (see `cltorch devices`)")
    return CUDADevice(index)


def public(dev: Device) -> device:
    """The user-facing ``device`` of a backend Device (``device(type='opencl', index=0)``)."""
    return device(dev.kind, None if dev.kind == "cpu" else dev.index)


def all_devices() -> list:
    """Every available device, ``cpu`` first."""
    names = ["cpu"] + [f"{k}:{i}" for k in ("opencl", "cuda") for i in range(device_count(k))]
    return [get(n) for n in names]


_default = [None]


def default() -> Device:
    """The device new tensors go to: set_default_device, else CLTORCH_DEVICE, else cpu."""
    if _default[0] is None:
        _default[0] = get(config.default_device_string())
    return _default[0]


def set_default(spec) -> None:
    _default[0] = None if spec is None else get(spec)
