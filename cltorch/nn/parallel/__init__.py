"""``cltorch.nn.parallel`` (``torch.nn.parallel``): ``DataParallel`` over a machine's devices
and its parts, ``replicate``, ``scatter``, ``parallel_apply`` and ``gather``;
``DistributedDataParallel`` across processes over cltorch.distributed (MPI).
"""
from __future__ import annotations

from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel
from .parallel_apply import parallel_apply
from .replicate import replicate
from .scatter_gather import gather, scatter, scatter_kwargs

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel", "gather",
           "parallel_apply", "replicate", "scatter", "scatter_kwargs"]
