"""Grad modes: whether ops record the graph. Context managers that also work as decorators,
thread-local as in PyTorch."""
from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when ops record a graph for autograd (the default)."""
    return getattr(_state, "enabled", True)


def _set(enabled: bool) -> None:
    _state.enabled = enabled


def is_inference_mode_enabled() -> bool:
    return getattr(_state, "inference", False)


class _GradMode:
    """Base of the grad-mode context managers: sets the mode on enter, restores it on exit, and
    wraps a function (``@no_grad()`` or bare ``@no_grad``) to run under the mode."""

    mode = True

    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs and cls.bare_decorator:
            return cls()(args[0])  # @no_grad without parentheses
        return super().__new__(cls)

    bare_decorator = True

    def __enter__(self):
        self._previous = is_grad_enabled()
        _set(self.mode)
        return self

    def __exit__(self, *exc):
        _set(self._previous)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapped

    def clone(self):
        return type(self)()


class no_grad(_GradMode):
    """Ops run without recording the graph: results do not require grad.

    Example::

        >>> with cltorch.no_grad():
        ...     y = x * 2          # y.requires_grad is False
    """

    mode = False
    _previous = False  # PyTorch's no_grad starts with prev=False: __exit__ alone turns grad off


class enable_grad(_GradMode):
    """Record the graph again inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off: as a function call it takes effect at once; as a context
    manager it restores the previous mode on exit."""

    bare_decorator = False

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._previous = is_grad_enabled()
        _set(self.mode)

    def __enter__(self):
        return self

    def clone(self):
        return type(self)(self.mode)


class inference_mode(_GradMode):
    """Like ``no_grad`` (cltorch keeps no per-tensor version state to skip beyond that);
    ``inference_mode(False)`` leaves the grad mode as it is."""

    def __init__(self, mode: bool = True):
        self.enabled = bool(mode)

    def __enter__(self):
        self._previous = is_grad_enabled()
        self._previous_inference = is_inference_mode_enabled()
        if self.enabled:
            _set(False)
        _state.inference = self.enabled
        return self

    def __exit__(self, *exc):
        _set(self._previous)
        _state.inference = self._previous_inference
        return False

    def clone(self):
        return type(self)(self.enabled)
