"""What every op family shares on the GPU path: the index width rule and the per-device kernel
memo (render and compile once per key; later calls are one dict lookup)."""
from __future__ import annotations

import numpy as np

INT32_LIMIT = 2 ** 31 - 1  # past this many bytes (or items), kernels index with 64 bits


def index_types(big: bool) -> tuple:
    """(NumPy dtype, C type name) of kernel indices: ``ct_int64``, the prelude's 64-bit type
    (not ``long``, which CUDA makes 32 bits on Windows), or ``int``."""
    return (np.int64, "ct_int64") if big else (np.int32, "int")


def fitted_kernel(device, key, group: int, build) -> tuple:
    """(kernel, group size) for ``key`` on ``device``: ``build(group)`` returns (source, name,
    argtypes) of the kernel for work-groups of ``group`` items. When the built kernel allows
    fewer (CL_KERNEL_WORK_GROUP_SIZE, below the device's maximum for a kernel that needs many
    registers or much local memory), it is built again for the largest power of two it
    allows. Memoised: ``build`` runs on the first call only."""
    found = device.plans.get((key, group))
    if found is None:
        fit = group
        while True:
            kernel = device.kernel(*build(fit))
            limit = device.group_limit(kernel)
            if fit <= limit or fit == 1:
                break
            fit = 1 << (limit.bit_length() - 1)
        found = device.plans[(key, group)] = (kernel, fit)
    return found


def if_fits(found: tuple, group: int):
    """The kernel of ``found`` (fitted_kernel's (kernel, group size)) if it takes work-groups
    of ``group``, else None."""
    kernel, fit = found
    return kernel if fit == group else None


def cached_kernel(device, key, build):
    """The kernel for ``key`` on ``device``; ``build()`` returns (source, name, argtypes) and
    runs only on the first call."""
    kernel = device.plans.get(key)
    if kernel is None:
        source, name, argtypes = build()
        kernel = device.plans[key] = device.kernel(source, name, argtypes)
    return kernel
