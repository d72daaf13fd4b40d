"""``cltorch.nn.parallel`` (``torch.nn.parallel``).

``DataParallel`` over one device (or none) runs the module as it is, with PyTorch's ``module``
attribute and ``module.`` state-dict prefix; replicating over several devices and
``DistributedDataParallel`` are not implemented yet (the scale issue) and say so.
"""
from __future__ import annotations

from ..modules.module import Module


class DataParallel(Module):
    """``DataParallel(module, device_ids=None, output_device=None, dim=0)``."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        from ... import cuda
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        if len(device_ids) > 1:
            raise NotImplementedError(f"DataParallel over {len(device_ids)} devices is not "
                                      f"implemented yet in cltorch; give it one device")
        self.module, self.device_ids, self.output_device, self.dim = \
            module, list(device_ids), output_device, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(Module):
    """Not implemented yet: cltorch has no process groups (see ``cltorch.distributed``)."""

    def __init__(self, module, *args, **kwargs):
        raise NotImplementedError("DistributedDataParallel is not implemented yet in cltorch "
                                  "(no torch.distributed backend)")


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """The functional form of ``DataParallel``."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    return DataParallel(module, device_ids, output_device, dim)(*inputs, **(module_kwargs or {}))
