"""``cltorch.nn``: Modules, layers, losses, ``functional``, ``init`` and ``utils``, with
PyTorch's semantics."""
from . import attention, functional, init, utils
from .modules import *  # noqa: F401,F403
from .modules import Module
from .parameter import Parameter
from . import parallel  # noqa: E402
from .parallel import DataParallel  # noqa: F401
from .parallel import DistributedDataParallel  # noqa: F401
