"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""
from __future__ import annotations

import collections
import operator

from ..parameter import Parameter
from .module import Module


def _index(idx, n):
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"index {idx} is out of range")
    return i % n


class Sequential(Module):
    """Modules applied in order: ``Sequential(m1, m2)``, ``Sequential(OrderedDict(...))`` or
    built with ``add_module``/``append``."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], collections.OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(collections.OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self))]

    def __setitem__(self, idx, module):
        key = list(self._modules)[_index(idx, len(self))]
        setattr(self, key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(self))]]):
            del self._modules[key]
        # keep the numbering of positional modules contiguous, as PyTorch does
        self.__dict__["_modules"] = dict(
            (str(i) if k.isdigit() else k, m) for i, (k, m) in enumerate(self._modules.items()))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other):
        out = Sequential()
        for module in list(self) + list(other):
            out.append(module)
        return out

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index if index >= 0 else len(modules) + index, module)
        self.__dict__["_modules"] = {str(i): m for i, m in enumerate(modules)}
        return self


class ModuleList(Module):
    """A list of modules, registered so that their parameters are found."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self)))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self))), module)

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        del modules[idx]
        self.__dict__["_modules"] = {str(i): m for i, m in enumerate(modules)}

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self.__dict__["_modules"] = {str(i): m for i, m in enumerate(modules)}

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it")


class _Mapping:
    """The dict methods ModuleDict and ParameterDict share, over ``self._entries()``."""

    def __getitem__(self, key):
        return self._entries()[key]

    def __delitem__(self, key):
        del self._entries()[key]

    def __len__(self):
        return len(self._entries())

    def __iter__(self):
        return iter(self._entries())

    def __contains__(self, key):
        return key in self._entries()

    def keys(self):
        return self._entries().keys()

    def items(self):
        return self._entries().items()

    def values(self):
        return self._entries().values()

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def clear(self):
        self._entries().clear()

    def update(self, entries):
        for key, value in (entries.items() if hasattr(entries, "items") else entries):
            self[key] = value


class ModuleDict(_Mapping, Module):
    """A dict of modules, registered so that their parameters are found."""

    def __init__(self, modules=None):
        Module.__init__(self)
        if modules is not None:
            self.update(modules)

    def _entries(self):
        return self._modules

    def __setitem__(self, key, module):
        self.add_module(key, module)


class ParameterList(Module):
    """A list of parameters (plain tensors are wrapped as Parameters)."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(len(self))[idx]])
        return getattr(self, str(_index(idx, len(self))))

    def __setitem__(self, idx, param):
        setattr(self, str(_index(idx, len(self))), _as_parameter(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        self._size += 1
        setattr(self, str(self._size - 1), _as_parameter(value))
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return "\n".join(_describe(i, p) for i, p in enumerate(self))


class ParameterDict(_Mapping, Module):
    """A dict of parameters (plain tensors are wrapped as Parameters)."""

    def __init__(self, parameters=None):
        Module.__init__(self)
        if parameters is not None:
            self.update(parameters)

    def _entries(self):
        return self._parameters

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def extra_repr(self):
        return "\n".join(_describe(k, p) for k, p in self.items())


def _describe(key, p):
    """One line of a parameter container's repr, as PyTorch prints it."""
    return f"({key}): Parameter containing: [{p.type()} of size {'x'.join(map(str, p.shape))}]"


def _as_parameter(value):
    if isinstance(value, Parameter) or value is None:
        return value
    return Parameter(value)
