"""``cltorch.opencl``: the same API as ``cltorch.cuda`` over every OpenCL device
(``opencl:N`` in ``cltorch devices`` order: GPUs first)."""
from .._devices import fill as _fill

_fill(globals(), "opencl")
