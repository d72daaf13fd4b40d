"""``cltorch.cuda`` (``torch.cuda`` under ``cltorch run``): the accelerators.

``cuda:N`` names the N-th accelerator: the CUDA backend's GPUs where an NVIDIA driver is
present, else the OpenCL GPUs (AMD, Intel, NVIDIA without CUDA), as PyTorch's ROCm build names
AMD GPUs ``cuda``. CPU OpenCL devices (PoCL) are not accelerators. ``CLTORCH_CUDA`` pins the
list (``opencl:1``, ``opencl:0,opencl:1``, ``none``). All devices share one random generator.
"""
from .._devices import fill as _fill
from . import amp  # noqa: F401  (torch.cuda.amp)

from ..api.creation import legacy_classes as _legacy_classes

_fill(globals(), "cuda")
globals().update(_legacy_classes("cuda"))  # torch.cuda.FloatTensor & co.
