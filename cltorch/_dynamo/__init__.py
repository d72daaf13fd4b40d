"""``torch._dynamo``: the names programs reach for around ``torch.compile`` (its settings,
``reset``, the backend list); cltorch's compiler is ``cltorch.compiler``."""
from __future__ import annotations

from ..compiler import (CAPTURING_BACKENDS, EAGER_BACKENDS, SETTINGS as config,  # noqa: F401
                        InvalidBackend, Unsupported, disable, is_compiling, reset)

__all__ = ["config", "reset", "disable", "is_compiling", "list_backends", "mark_dynamic",
           "mark_static", "InvalidBackend", "Unsupported"]


def list_backends(exclude_tags=None) -> list:
    """The ``backend=`` names ``torch.compile`` takes here."""
    return sorted(CAPTURING_BACKENDS + EAGER_BACKENDS)


def mark_dynamic(t, index, **kwargs) -> None:
    """Accepted: a new shape is a new guard set here (captured on its own)."""


def mark_static(t, index=None) -> None:
    """Accepted: shapes are always specialised here."""
