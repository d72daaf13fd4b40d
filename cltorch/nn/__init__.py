"""``cltorch.nn``: Modules, layers, losses, ``functional``, ``init`` and ``utils``, with
PyTorch's semantics."""
from . import functional, init, utils
from .modules import *  # noqa: F401,F403
from .modules import Module
from .parameter import Parameter
