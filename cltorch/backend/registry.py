"""Device strings (``cpu``, ``opencl``, ``opencl:1``, ``cuda:0``) and the backend Device objects."""
from __future__ import annotations

import functools
import threading

from .. import config
from .base import BackendUnavailable, Device, check_not_forked, note_gpu_opened
from .cpu import CPUDevice

KINDS = ("cpu", "opencl", "cuda")


class device:
    """A device as PyTorch names it: ``cltorch.device("opencl:0")``, ``device("cuda", 1)``."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # PyTorch: an integer names an accelerator index
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
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got "
                            f"({type.__class__.__name__})")
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

    def __enter__(self):
        """``with torch.device("cuda"):`` makes this the default device inside the block."""
        _default_stack.append(_default[0])
        set_default(self)
        return self

    def __exit__(self, *exc):
        _default[0] = _default_stack.pop()
        return False


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
    """The backend Device for a device string, ``device``, integer index or backend Device.

    ``cuda[:N]`` names the N-th *accelerator* (see ``accelerators``): the CUDA backend's GPUs
    where an NVIDIA driver is present, else the OpenCL GPUs, as PyTorch's ROCm build names AMD
    GPUs ``cuda``. Without an index it is the current accelerator (``cuda.set_device``).
    """
    if isinstance(spec, Device):
        return spec
    d = spec if isinstance(spec, device) else device(spec)
    if d.type != "cpu":
        check_not_forked(d.type)
    if d.type == "cuda":
        return _accelerator(d.index)
    return _open(d.type, d.index or 0)


def _accelerator(index) -> Device:
    gpus = accelerators()
    index = _current[0] if index is None else index
    if index < len(gpus):
        return gpus[index]
    if not gpus:
        raise BackendUnavailable(
            "Found no GPU for 'cuda': no NVIDIA driver with a CUDA GPU and no OpenCL GPU on "
            "this machine (see `cltorch devices`; CLTORCH_CUDA=opencl:0 names another device)")
    raise RuntimeError(f"CUDA error: invalid device ordinal (cuda:{index} asked for, "
                       f"{len(gpus)} accelerator(s) found)")


@functools.lru_cache(maxsize=None)
def accelerators() -> tuple:
    """The devices ``cuda:0``, ``cuda:1``... name, in order.

    CLTORCH_CUDA pins them (``opencl:1``, ``opencl:0,opencl:1``, ``cuda``, or ``none``);
    otherwise the CUDA backend's devices where an NVIDIA driver is present, else the OpenCL
    devices of GPU type. CPU OpenCL devices (PoCL) are not accelerators unless pinned.
    """
    pinned = config.accelerator_pin()
    if pinned is not None:
        names = [] if pinned.strip() in ("", "none") else pinned.split(",")
        return tuple(_open(*_pinned(n.strip())) for n in names)
    if device_count("cuda"):
        return tuple(_open("cuda", i) for i in range(device_count("cuda")))
    from . import opencl
    return tuple(_open("opencl", i) for i in range(opencl.gpu_count()))


def _pinned(name: str) -> tuple:
    """(kind, index) of a pinned name: ``opencl[:N]``, ``cpu``, or ``cuda[:N]`` (the CUDA
    backend itself)."""
    kind, _, index = name.partition(":")
    if kind not in KINDS or (index and not index.isdigit()):
        raise RuntimeError(f"CLTORCH_CUDA: cannot name device '{name}' (use opencl:N, "
                           f"cuda:N, cpu or none)")
    return kind, int(index) if index else 0


_current = [0]


def set_current_accelerator(index: int) -> None:
    """What ``cuda`` without an index names (``cuda.set_device``)."""
    _accelerator(index)  # raises for an index that does not exist
    _current[0] = index


def current_accelerator_index() -> int:
    return _current[0]


_opened = {}
_opening = threading.Lock()


def _open(kind: str, index: int) -> Device:
    """The backend Device ``kind:index`` itself (``cuda`` is the CUDA backend here), opened
    once per process even when threads ask for it at the same moment (two contexts for one
    device would mix buffers of both)."""
    device = _opened.get((kind, index))
    if device is None:
        with _opening:
            device = _opened.get((kind, index))
            if device is None:
                device = _opened[kind, index] = _create(kind, index)
    return device


def _create(kind: str, index: int) -> Device:
    if kind == "cpu":
        return CPUDevice(0)
    note_gpu_opened()  # a forked child must not use it (base.check_not_forked)
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


# Set by ``install_as_torch``: accelerators then report themselves as ``cuda:N``, as
# PyTorch's ROCm build reports AMD GPUs, so ``x.device.type == "cuda"`` holds in programs.
torch_names = [False]


def public(dev: Device) -> device:
    """The user-facing ``device`` of a backend Device (``device(type='opencl', index=0)``)."""
    if dev.kind == "cpu":
        return _CPU
    if torch_names[0] and dev.kind != "cuda" and dev in accelerators():
        return device("cuda", accelerators().index(dev))
    return device(dev.kind, dev.index)


def device_type(dev: Device) -> str:
    """The type a program sees for ``dev``: ``public(dev).type``."""
    return public(dev).type


def all_devices() -> list:
    """Every available device, ``cpu`` first."""
    return [_open("cpu", 0)] + [_open(k, i) for k in ("opencl", "cuda")
                                for i in range(device_count(k))]


_CPU = device("cpu")
_default = [None]
_default_stack = []  # defaults saved by `with device(...)` blocks


def default() -> Device:
    """The device new tensors go to: set_default_device, else CLTORCH_DEVICE, else cpu."""
    if _default[0] is None:
        _default[0] = get(config.default_device_string())
    return _default[0]


def set_default(spec) -> None:
    _default[0] = None if spec is None else get(spec)
