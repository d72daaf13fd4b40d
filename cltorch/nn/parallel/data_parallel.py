"""``torch.nn.DataParallel``: a module run on several devices of one machine at once. Each
forward replicates the module onto the devices (``replicate``), splits the batch between them
(``scatter``: PyTorch's equal chunks, see ``scatter_gather``), runs the replicas together
(``parallel_apply``: a thread and a device queue each) and gathers their outputs on
``output_device``; backward sums the replicas' gradients into the module's parameters.

Beyond PyTorch, ``device_ids`` may name devices of several backends and speeds (``["opencl:0",
"cpu"]``); an int names accelerator ``cuda:N`` as in PyTorch.
"""
from __future__ import annotations

import warnings
from itertools import chain

from ...autograd.grad_mode import is_grad_enabled
from ...backend import registry
from ..modules.module import Module
from .parallel_apply import parallel_apply
from .replicate import replicate
from .scatter_gather import as_device, gather, scatter_kwargs


def _check_balance(devices) -> None:
    """PyTorch's warning where a device has under 75% of another's memory or cores."""
    infos = [registry.get(d).info() for d in devices]
    for measure in ("global_mem_bytes", "compute_units"):
        values = [getattr(info, measure) for info in infos]
        low, high = min(values), max(values)
        if high and low / high < 0.75:
            warnings.warn(f"There is an imbalance between your GPUs. You may want to exclude "
                          f"GPU {devices[values.index(low)]} which has less than 75% of the "
                          f"memory or cores of GPU {devices[values.index(high)]}. You can do "
                          f"so by setting the device_ids argument to DataParallel, or by "
                          f"setting the CUDA_VISIBLE_DEVICES environment variable.")
            return


def _check_placement(module, device) -> None:
    for t in chain(module.parameters(), module.buffers()):
        if t.device != device:
            raise RuntimeError(f"module must have its parameters and buffers on device "
                               f"{device} (device_ids[0]) but found one of them on device: "
                               f"{t.device}")


def _devices(device_ids) -> list:
    """The devices ``device_ids`` name; [] where they are accelerator numbers (or None: all
    of them) and there is no accelerator: then, as in PyTorch, the module runs as it is."""
    from ... import cuda
    if device_ids is not None and not all(isinstance(d, int) for d in device_ids):
        devices = [as_device(d) for d in device_ids]
    elif not cuda.is_available():
        return []
    else:
        devices = [as_device(d) for d in (device_ids if device_ids is not None
                                          else range(cuda.device_count()))]
    if not devices:
        raise ValueError("DataParallel needs at least one device in device_ids")
    return devices


class DataParallel(Module):
    """``DataParallel(module, device_ids=None, output_device=None, dim=0)``: ``module`` run
    on ``device_ids`` (default: every accelerator, ``cuda.device_count()`` of them), the
    batch split along ``dim``, the outputs gathered on ``output_device`` (default
    ``device_ids[0]``, where the module's parameters and buffers must be). Where
    ``device_ids`` are accelerator numbers (or None) and there is no accelerator, the module
    runs as it is, as in PyTorch.

    Example::

        >>> model = nn.DataParallel(model, device_ids=["opencl:0", "opencl:1"])
        >>> loss = loss_fn(model(x), y)   # half the batch on each device
        >>> loss.backward()               # model.module's parameters get the whole gradient
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module, self.dim = module, dim
        self.device_ids = _devices(device_ids)
        if not self.device_ids:
            self.output_device = None
            return
        self.output_device = as_device(output_device if output_device is not None
                                       else self.device_ids[0])
        self.src_device_obj = self.device_ids[0]
        _check_balance(self.device_ids)
        if len(self.device_ids) == 1:
            self.module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        _check_placement(self.module, self.src_device_obj)
        inputs, module_kwargs = self.scatter(inputs, kwargs, self.device_ids)
        if not inputs and not module_kwargs:
            inputs, module_kwargs = ((),), ({},)
        if len(self.device_ids) == 1:
            return self.module(*inputs[0], **module_kwargs[0])
        replicas = self.replicate(self.module, self.device_ids[:len(inputs)])
        outputs = self.parallel_apply(replicas, inputs, module_kwargs)
        return self.gather(outputs, self.output_device)

    def replicate(self, module, device_ids):
        return replicate(module, device_ids, not is_grad_enabled())

    def scatter(self, inputs, kwargs, device_ids):
        return scatter_kwargs(inputs, kwargs, device_ids, dim=self.dim)

    def parallel_apply(self, replicas, inputs, kwargs):
        return parallel_apply(replicas, inputs, kwargs, self.device_ids[:len(replicas)])

    def gather(self, outputs, output_device):
        return gather(outputs, output_device, dim=self.dim)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """The functional form of ``DataParallel``: ``module(inputs)`` over ``device_ids``, once
    (``module`` must be on ``device_ids[0]``)."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    devices = _devices(device_ids)
    if not devices:
        return module(*inputs, **(module_kwargs or {}))
    output_device = as_device(output_device if output_device is not None else devices[0])
    _check_placement(module, devices[0])
    inputs, module_kwargs = scatter_kwargs(inputs, module_kwargs, devices, dim)
    if not inputs and not module_kwargs:
        inputs, module_kwargs = ((),), ({},)
    if len(devices) == 1:
        return module(*inputs[0], **module_kwargs[0])
    used = devices[:len(inputs)]
    replicas = replicate(module, used, not is_grad_enabled())
    return gather(parallel_apply(replicas, inputs, module_kwargs, used), output_device, dim)
