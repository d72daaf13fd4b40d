"""``cltorch.nn.parallel`` (``torch.nn.parallel``): ``DataParallel`` over a machine's devices
and its parts, ``replicate``, ``scatter``, ``parallel_apply`` and ``gather``.
``DistributedDataParallel`` is not implemented yet (the scale issue's second half) and says so.
"""
from __future__ import annotations

from ..modules.module import Module
from .data_parallel import DataParallel, data_parallel
from .parallel_apply import parallel_apply
from .replicate import replicate
from .scatter_gather import gather, scatter, scatter_kwargs

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel", "gather",
           "parallel_apply", "replicate", "scatter", "scatter_kwargs"]


class DistributedDataParallel(Module):
    """Not implemented yet: cltorch has no process groups (see ``cltorch.distributed``)."""

    def __init__(self, module, *args, **kwargs):
        raise NotImplementedError("DistributedDataParallel is not implemented yet in cltorch "
                                  "(no torch.distributed backend)")
