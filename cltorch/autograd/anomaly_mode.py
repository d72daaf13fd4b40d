"""Anomaly mode: remember each node's forward stack and stop at the first backward that
produces NaN, naming the forward op that made it."""
from __future__ import annotations

import warnings

_enabled = [False]


def is_anomaly_enabled() -> bool:
    return _enabled[0]


class detect_anomaly:
    """Context manager (and decorator) turning anomaly detection on."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self._previous = _enabled[0]
        _enabled[0] = self.check_nan
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._previous
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapped


class set_detect_anomaly:
    """Turn anomaly detection on or off (at once; restored on exit when used with ``with``)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._previous = _enabled[0]
        _enabled[0] = bool(mode) and check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._previous
        return False


def check_nan(node, grads) -> None:
    """Raise naming ``node`` (and where it was created) when one of ``grads`` holds a NaN."""
    for i, g in enumerate(grads):
        if g is not None and g.dtype.is_floating_point and bool(g.isnan().any()):
            trace = f"\nThe forward call that created it:\n{node._trace}" if node._trace else ""
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th "
                               f"output.{trace}")
