"""``nn.utils.parametrize``: a parameter computed from others on every access, as PyTorch's.

``register_parametrization(module, "weight", P())`` moves ``module.weight`` to
``module.parametrizations.weight.original`` (or ``original0``, ``original1``... when
``P.right_inverse`` returns several tensors) and makes ``module.weight`` a property that
returns ``P(original...)``. The module's class is swapped for a subclass holding the property,
so the state dict keys are PyTorch's (``parametrizations.weight.original``).
"""
from __future__ import annotations

import contextlib

from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..parameter import Parameter


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and its original value(s)."""

    def __init__(self, modules, original, unsafe=False):
        super().__init__(modules)
        self.unsafe = unsafe
        first = modules[0]
        initial = first.right_inverse(original) if hasattr(first, "right_inverse") else original
        self.is_tensor = not isinstance(initial, (tuple, list))
        if self.is_tensor:
            self.original = Parameter(initial.detach(), original.requires_grad)
        else:
            self.ntensors = len(initial)
            for i, value in enumerate(initial):
                setattr(self, f"original{i}", Parameter(value.detach(), original.requires_grad))

    def right_inverse(self, value) -> None:
        """Set the originals so that the parametrized value becomes ``value``."""
        from ...autograd.grad_mode import no_grad
        with no_grad():
            for module in reversed(list(self)[1:]):
                value = module.right_inverse(value) if hasattr(module, "right_inverse") \
                    else value
            first = self[0]
            value = first.right_inverse(value) if hasattr(first, "right_inverse") else value
            if self.is_tensor:
                self.original.copy_(value)
            else:
                for i, v in enumerate(value):
                    getattr(self, f"original{i}").copy_(v)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


_classes = {}  # original class -> its parametrized subclass


def _parametrized_class(cls):
    if cls not in _classes:
        _classes[cls] = type(f"Parametrized{cls.__name__}", (cls,), {})
    return _classes[cls]


def _add_property(module, name):
    def get(self):
        return self.parametrizations[name]()

    def set_(self, value):
        self.parametrizations[name].right_inverse(value)
    setattr(type(module), name, property(get, set_))


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Parametrize ``module.tensor_name`` by ``parametrization`` (a Module); returns
    ``module``."""
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
        return module
    original = getattr(module, tensor_name)
    if tensor_name in module._parameters:
        del module._parameters[tensor_name]
    elif tensor_name in module._buffers:
        del module._buffers[tensor_name]
    if not is_parametrized(module):
        module.__class__ = _parametrized_class(module.__class__)
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = ParametrizationList([parametrization], original,
                                                              unsafe)
    _add_property(module, tensor_name)
    return module


def is_parametrized(module, tensor_name=None) -> bool:
    plist = module.__dict__.get("_modules", {}).get("parametrizations")
    if plist is None or not isinstance(plist, ModuleDict):
        return False
    return tensor_name is None or tensor_name in plist


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Make ``module.tensor_name`` a plain Parameter again (its current value, or the
    original's with ``leave_parametrized=False``)."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    from ...autograd.grad_mode import no_grad
    with no_grad():
        value = getattr(module, tensor_name) if leave_parametrized or not plist.is_tensor \
            else plist.original
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    module.register_parameter(tensor_name, Parameter(value.detach().clone()))
    if not len(module.parametrizations):
        del module._modules["parametrizations"]
        module.__class__ = module.__class__.__bases__[0]
    return module


@contextlib.contextmanager
def cached():
    """Accepted: parametrized values are recomputed on each access."""
    yield


def type_before_parametrizations(module):
    return module.__class__.__bases__[0] if is_parametrized(module) else type(module)


__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized", "cached",
           "ParametrizationList", "type_before_parametrizations", "Module"]
