"""``torch.nn.parallel.replicate``: copies of a module, one a device, whose parameters are
recorded copies of the original's (the gradients of all replicas add up in the original
parameters' ``.grad``), as PyTorch's Broadcast makes them.

As in PyTorch, a replica's parameters are plain tensors (not leaves, so not ``Parameter``s;
``replica.parameters()`` is empty), and the replica on the module's own device shares the
original's storage: in-place updates there (BatchNorm's running statistics) reach the original
module; those on the other replicas are lost with them.
"""
from __future__ import annotations

from .scatter_gather import as_device


def _copies(tensors, devices, detach: bool) -> list:
    """Per device, a copy of each tensor, recorded for autograd unless ``detach``: on the
    first device, where the tensors are, a view (same storage); elsewhere a copy (a clone
    where a later device is the first one again)."""
    out = []
    for j, device in enumerate(devices):
        row = []
        for t in tensors:
            src = t.detach() if detach else t
            if t.device != device:
                row.append(src.to(device))
            else:
                row.append(src.view_as(src) if j == 0 else src.clone())
        out.append(row)
    return out


def _replica(module):
    """A shallow copy of ``module`` with no parameters of its own (PyTorch's
    ``Module._replicate_for_data_parallel``)."""
    replica = module.__new__(type(module))
    state = replica.__dict__
    state.update(module.__dict__)
    state.update(_parameters={}, _buffers=dict(module._buffers),
                 _modules=dict(module._modules), _is_replica=True)
    return replica


def replicate(network, devices, detach: bool = False) -> list:
    """One replica of ``network`` a device of ``devices``; ``detach``: the parameter copies
    record no history (DataParallel's choice when grad mode is off)."""
    devices = [as_device(d) for d in devices]
    params = list(network.parameters())
    param_index = {id(p): i for i, p in enumerate(params)}
    param_copies = _copies(params, devices, detach)
    buffers = list(network.buffers())
    buffer_index = {id(b): i for i, b in enumerate(buffers)}
    # buffers that require grad are copied with their history, the others without (PyTorch)
    buffer_copies = [[None] * len(buffers) for _ in devices]
    for keep in (True, False):
        chosen = [i for i, b in enumerate(buffers) if b.requires_grad == keep]
        made = _copies([buffers[i] for i in chosen], devices, detach or not keep)
        for j, row in enumerate(made):
            for i, copy in zip(chosen, row):
                buffer_copies[j][i] = copy
    modules = list(network.modules())
    module_index = {id(m): i for i, m in enumerate(modules)}
    replicas = [[_replica(m) for m in modules] for _ in devices]
    for i, module in enumerate(modules):
        for j, row in enumerate(replicas):
            replica = row[i]
            for key, child in module._modules.items():
                replica._modules[key] = None if child is None else row[module_index[id(child)]]
            for key, param in module._parameters.items():
                # not a leaf: an attribute, as PyTorch keeps it (Module.__getattr__ finds it)
                replica.__dict__[key] = None if param is None else \
                    param_copies[j][param_index[id(param)]]
            for key, buf in module._buffers.items():
                replica._buffers[key] = None if buf is None else \
                    buffer_copies[j][buffer_index[id(buf)]]
    return [row[0] for row in replicas]
