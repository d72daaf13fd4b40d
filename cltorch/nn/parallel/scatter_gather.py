"""``torch.nn.parallel.scatter_gather``: a batch split into chunks, one a device, and the
replicas' outputs gathered back onto one device, both recorded for autograd (a chunk's
gradient flows back to the input's device; the gathered output's gradient to each replica's).

The split is PyTorch's: ``tensor.chunk(len(devices), dim)``, equal chunks but the last,
whatever the devices' speeds (a GPU and PoCL get the same share). Fewer chunks than devices
(a batch of 2 over 4 devices) use the first devices only. A caller who wants a split by speed
scatters its inputs itself and calls ``parallel_apply``.
"""
from __future__ import annotations

import warnings

from ...backend import registry
from ...tensor import Tensor


def as_device(spec):
    """The ``device`` a DataParallel id names: an int is accelerator ``cuda:N`` as in
    PyTorch; a string or ``device`` may name any device (``"cpu"``, ``"opencl:1"``): devices
    of several backends may work together."""
    return registry.public(registry.get(spec))


def _is_namedtuple(obj) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def _scatter_tensor(tensor, devices, dim):
    return tuple(chunk.to(device) for chunk, device in zip(tensor.chunk(len(devices), dim),
                                                           devices))


def scatter(inputs, target_gpus, dim: int = 0) -> list:
    """One copy of ``inputs`` a device of ``target_gpus``: tensors chunked along ``dim`` (each
    chunk moved to its device), tuples, lists, dicts and named tuples recursed, anything else
    repeated. As many copies as the input with the fewest chunks has."""
    devices = [as_device(d) for d in target_gpus]

    def scatter_map(obj):
        if isinstance(obj, Tensor):
            return _scatter_tensor(obj, devices, dim)
        if _is_namedtuple(obj):
            return [type(obj)(*args) for args in zip(*map(scatter_map, obj))]
        if isinstance(obj, tuple) and len(obj) > 0:
            return list(zip(*map(scatter_map, obj)))
        if isinstance(obj, list) and len(obj) > 0:
            return [list(i) for i in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and len(obj) > 0:
            return [type(obj)(i) for i in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in devices]
    return scatter_map(inputs)


def scatter_kwargs(inputs, kwargs, target_gpus, dim: int = 0) -> tuple:
    """(inputs per device, kwargs per device), both scattered, padded to the same count."""
    scattered_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    scattered_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if len(scattered_inputs) < len(scattered_kwargs):
        scattered_inputs.extend(() for _ in range(len(scattered_kwargs) -
                                                  len(scattered_inputs)))
    elif len(scattered_kwargs) < len(scattered_inputs):
        scattered_kwargs.extend({} for _ in range(len(scattered_inputs) -
                                                  len(scattered_kwargs)))
    return tuple(scattered_inputs), tuple(scattered_kwargs)


def _gather_tensors(tensors, device, dim):
    if all(t.dim() == 0 for t in tensors) and dim == 0:
        warnings.warn("Was asked to gather along dimension 0, but all input tensors were "
                      "scalars; will instead unsqueeze and return a vector.")
        tensors = [t.unsqueeze(0) for t in tensors]
    from ...api.layout import cat
    return cat([t.to(device) for t in tensors], dim)


def gather(outputs, target_device, dim: int = 0):
    """The replicas' ``outputs`` as one, on ``target_device`` ("cpu" included): tensors
    concatenated along ``dim`` (0-dim ones made a vector, with PyTorch's warning), dicts,
    tuples, lists and named tuples recursed, None kept."""
    device = as_device(target_device)

    def gather_map(outputs):
        out = outputs[0]
        if isinstance(out, Tensor):
            return _gather_tensors(outputs, device, dim)
        if out is None:
            return None
        if isinstance(out, dict):
            if not all(len(out) == len(d) for d in outputs):
                raise ValueError("All dicts must have the same number of keys")
            return type(out)((k, gather_map([d[k] for d in outputs])) for k in out)
        if _is_namedtuple(out):
            return type(out)._make(map(gather_map, zip(*outputs)))
        return type(out)(map(gather_map, zip(*outputs)))
    return gather_map(outputs)
