"""What a benchmark runs on: every cltorch device, and the references measured in the same run
(NumPy, PyTorch on the CPU, PyTorch on CUDA where it has a GPU, CLBlast's SGEMM on an OpenCL
device where ``pyclblast`` is importable, and a raw pyopencl kernel call on each OpenCL device
for the tiny op: what a launch costs without cltorch). A Target turns host arrays into its own
and waits for its device; the cases use ``lib`` (cltorch, torch or numpy) through the API the
first two share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

REFERENCE_KINDS = ("numpy", "torch", "clblast", "pyopencl")
RAW_KINDS = ("clblast", "pyopencl")  # one op each, on device buffers: most cases skip them


@dataclass
class Target:
    """One runtime on one device. ``kind``: cltorch, numpy, torch, clblast or pyopencl."""

    name: str
    kind: str
    lib: object
    device: str
    sync: Callable[[], None]
    compiled: bool = False  # cltorch.compile around the step (the cases that allow it)

    @property
    def is_reference(self) -> bool:
        return self.kind in REFERENCE_KINDS

    @property
    def is_raw(self) -> bool:
        """A reference with one op on raw device buffers (CLBlast's GEMM, a pyopencl add)."""
        return self.kind in RAW_KINDS

    def array(self, host: np.ndarray, requires_grad: bool = False):
        """``host`` as this target's array, on its device."""
        if self.kind == "numpy":
            return host
        if self.kind in RAW_KINDS:
            import pyopencl.array
            return pyopencl.array.to_device(self.lib.queue, np.ascontiguousarray(host))
        t = self.lib.tensor(host, device=self.device)
        return t.requires_grad_() if requires_grad else t


def discover(device_filter: str | None = None, references: bool = True,
             reference_filter: str | None = None) -> list:
    """The targets of this machine; ``device_filter`` keeps cltorch devices whose name starts
    with one of its comma-separated prefixes, ``reference_filter`` likewise the references
    (by target name: "numpy", "torch cpu", "torch cuda", "clblast opencl:0"...)."""
    import cltorch
    from cltorch.backend import registry
    prefixes = device_filter.split(",") if device_filter else None
    targets = []
    for dev in registry.all_devices():
        if prefixes and not any(dev.name.startswith(p) for p in prefixes):
            continue
        targets.append(Target(f"cltorch {dev.name}", "cltorch", cltorch, dev.name,
                              dev.synchronize))
        if dev.kind != "cpu":  # the NumPy backend runs compiled regions eagerly
            targets.append(Target(f"cltorch compiled {dev.name}", "cltorch", cltorch,
                                  dev.name, dev.synchronize, compiled=True))
    if references:
        refs = _references([t.device for t in targets
                            if t.device.startswith("opencl") and not t.compiled])
        wanted = reference_filter.split(",") if reference_filter else None
        targets += [r for r in refs if not wanted or any(r.name.startswith(w) for w in wanted)]
    return targets


def _references(opencl_devices) -> list:
    refs = [Target("numpy", "numpy", np, "cpu", lambda: None)]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        refs.append(Target("torch cpu", "torch", torch, "cpu", lambda: None))
        if torch.cuda.is_available():
            refs.append(Target("torch cuda", "torch", torch, "cuda", torch.cuda.synchronize))
    refs += _clblast(opencl_devices)
    refs += [_pyopencl(name) for name in opencl_devices]
    return refs


def _pyopencl(name):
    from cltorch.backend import registry
    queue = registry.get(name).queue
    return Target(f"pyopencl {name}", "pyopencl", _RawAdd(queue), name, queue.finish)


class _RawAdd:
    """The tiny op as plain pyopencl: a kernel built once, its result buffer allocated from a
    memory pool per call (as a new tensor's is), one enqueue through the kernel's own invoker."""

    def __init__(self, queue):
        import pyopencl as cl
        import pyopencl.tools
        self.queue = queue
        self.pool = pyopencl.tools.MemoryPool(pyopencl.tools.ImmediateAllocator(queue))
        program = cl.Program(queue.context, "__kernel void add(__global float *c, "
                             "__global const float *a, __global const float *b, int n) "
                             "{ int i = get_global_id(0); if (i < n) c[i] = a[i] + b[i]; }")
        self.kernel = program.build().add
        self.kernel.set_scalar_arg_dtypes([None, None, None, np.int32])

    def add(self, a, b):
        n = a.size
        out = self.pool.allocate(4 * n)
        self.kernel(self.queue, (n,), None, out, a.data, b.data, n)
        return out


def _clblast(opencl_devices) -> list:
    """CLBlast's SGEMM on each OpenCL device under test, when pyclblast is importable."""
    try:
        import pyclblast
    except ImportError:
        return []
    from cltorch.backend import registry
    found = []
    for name in opencl_devices:
        queue = registry.get(name).queue
        lib = _CLBlast(pyclblast, queue)
        found.append(Target(f"clblast {name}", "clblast", lib, name, queue.finish))
    return found


class _CLBlast:
    """The one op taken from CLBlast: C = A @ B in float32."""

    def __init__(self, pyclblast, queue):
        self.pyclblast, self.queue = pyclblast, queue

    def matmul(self, a, b):
        import pyopencl.array
        m, k = a.shape
        n = b.shape[1]
        c = pyopencl.array.empty(self.queue, (m, n), np.float32)
        self.pyclblast.gemm(self.queue, m, n, k, a, b, c, a_ld=k, b_ld=n, c_ld=n)
        return c
