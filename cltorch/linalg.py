"""``torch.linalg``: the namespace; the functions live in ``cltorch.api.linalg``."""
from .api.linalg import *  # noqa: F401,F403
from .api.linalg import __all__  # noqa: F401
