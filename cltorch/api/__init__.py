"""The tensor-level API: PyTorch's functions and Tensor methods, one module per op family.

Each family module is named after the ``ops`` module (and the template) it drives:
``api/reduce.py`` -> ``ops/reduce.py`` -> ``kernels_cl/reduce.mako``. A family declares
``NAMESPACE`` (its ``cltorch.*`` functions) and ``METHODS`` (its ``Tensor`` methods); this
module is the one place that attaches the methods and collects the namespace, and it refuses a
name declared by two families (one definition per op).
"""
from __future__ import annotations

from ..tensor import Tensor
from . import (creation, gather, gemm, layout, linalg, pointwise, random, reduce, scan, scatter,
               search, softmax, sort)

FAMILIES = (creation, pointwise, reduce, softmax, scan, gemm, gather, scatter, sort, search,
            layout, random, linalg)

# Methods whose function form is ``cltorch.name(input, ...)``: view and shape methods that
# Tensor itself defines.
_FUNCTION_FORMS = ("reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose",
                   "swapaxes", "swapdims", "t", "narrow", "select", "unbind", "clone", "numel",
                   "is_floating_point", "is_complex", "broadcast_to")


def _function_form(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"Function form of :meth:`Tensor.{name}`."
    return fn


def _collect(attribute: str) -> dict:
    found, owner = {}, {}
    for family in FAMILIES:
        for name, fn in getattr(family, attribute).items():
            if name in found and found[name] is not fn:
                raise ImportError(f"{attribute} {name!r} is declared by both "
                                  f"{owner[name].__name__} and {family.__name__}")
            found[name], owner[name] = fn, family
    return found


NAMESPACE = _collect("NAMESPACE")
NAMESPACE.update((name, _function_form(name)) for name in _FUNCTION_FORMS)
METHODS = _collect("METHODS")
for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
