"""``cltorch.jit`` (``torch.jit``): ``script`` and ``trace`` as pass-throughs.

TorchScript compiles to PyTorch's own IR; cltorch runs the Python code as it is, which gives
the same results (``script`` returns its argument, ``trace`` the function or module). Saving
TorchScript archives is not supported.
"""
from __future__ import annotations

from typing import Final  # noqa: F401  (torch.jit.Final)


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    return func


def trace_module(mod, inputs, *args, **kwargs):
    return mod


def ignore(drop=False, **kwargs):
    return drop if callable(drop) else (lambda fn: fn)


def unused(fn):
    return fn


def export(fn):
    return fn


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def annotate(the_type, the_value):
    return the_value


def save(m, f, _extra_files=None):
    raise NotImplementedError("torch.jit.save: TorchScript archives are not supported by "
                              "cltorch; save the state_dict with torch.save")


def load(f, map_location=None, _extra_files=None):
    raise NotImplementedError("torch.jit.load: TorchScript archives are not supported by "
                              "cltorch")


class ScriptModule:
    """Never instantiated: nothing is compiled to TorchScript under cltorch."""


class ScriptFunction:
    """Never instantiated: nothing is compiled to TorchScript under cltorch."""
