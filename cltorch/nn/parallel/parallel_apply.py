"""``torch.nn.parallel.parallel_apply``: replicas run on their inputs at once, one Python
thread each. A launch returns before its kernel ends, so each thread queues its replica's
kernels on its own device's queue while the others do the same: the devices compute
together. An exception in a replica is raised again in the caller, saying which replica and
device, as PyTorch does."""
from __future__ import annotations

import sys
import threading
import traceback

from ...autograd.grad_mode import is_grad_enabled, set_grad_enabled
from ...tensor import Tensor
from .scatter_gather import as_device


class ExceptionWrapper:
    """An exception caught in a replica's thread, raised again in the caller's."""

    def __init__(self, where: str):
        exc_type, exc, _ = sys.exc_info()
        self.exc_type, self.where = exc_type, where
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, exc.__traceback__))

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        try:
            exception = self.exc_type(msg)
        except Exception:  # a type whose constructor takes other arguments
            raise RuntimeError(msg) from None
        raise exception


def _a_tensor(obj):
    """The first tensor in ``obj`` (tuples, lists, dicts searched), or None."""
    if isinstance(obj, Tensor):
        return obj
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) \
        else ()
    for item in items:
        found = _a_tensor(item)
        if found is not None:
            return found
    return None


def parallel_apply(modules, inputs, kwargs_tup=None, devices=None) -> list:
    """``[modules[i](*inputs[i], **kwargs_tup[i])]``, each in a thread of its own (one module
    runs in the caller's), with the caller's grad mode. ``devices`` name each module's device
    (else the device of a tensor in its inputs) for the error messages."""
    if len(modules) != len(inputs):
        raise AssertionError(f"The number of modules {len(modules)} is not equal to the "
                             f"number of inputs {len(inputs)}")
    kwargs_tup = kwargs_tup if kwargs_tup is not None else ({},) * len(modules)
    if len(modules) != len(kwargs_tup):
        raise AssertionError(f"The number of modules {len(modules)} is not equal to the "
                             f"number of kwargs {len(kwargs_tup)}")
    devices = [None if d is None else as_device(d)
               for d in (devices if devices is not None else [None] * len(modules))]
    grad_enabled, results = is_grad_enabled(), {}

    def worker(i, module, input, kwargs, device):
        set_grad_enabled(grad_enabled)  # grad mode is per thread
        if device is None:
            found = _a_tensor((input, kwargs))
            if found is None:
                try:
                    raise RuntimeError("no device was provided and no tensor input was found")
                except RuntimeError:
                    results[i] = ExceptionWrapper(f"in replica {i}, no device was provided "
                                                  f"and no tensor input was found; device "
                                                  f"cannot be resolved")
                return
            device = found.device
        try:
            if not isinstance(input, (list, tuple)):
                input = (input,)
            results[i] = module(*input, **kwargs)
        except Exception:
            results[i] = ExceptionWrapper(f"in replica {i} on device {device}")

    jobs = list(zip(range(len(modules)), modules, inputs, kwargs_tup, devices))
    threads = [threading.Thread(target=worker, args=job) for job in jobs[1:]]
    for thread in threads:
        thread.start()
    if jobs:
        worker(*jobs[0])
    for thread in threads:
        thread.join()
    outputs = []
    for i in range(len(inputs)):
        output = results[i]
        if isinstance(output, ExceptionWrapper):
            output.reraise()
        outputs.append(output)
    return outputs
