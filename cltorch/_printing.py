"""Tensor printing with PyTorch's rules (formatter widths, sci mode, summarisation, suffixes)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = PrintOptions()
_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
             "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
             "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """Set printing options as ``torch.set_printoptions`` does."""
    if profile is not None:
        for key, value in _PROFILES[profile].items():
            setattr(PRINT_OPTS, key, value)
    for key, value in dict(precision=precision, threshold=threshold, edgeitems=edgeitems,
                           linewidth=linewidth).items():
        if value is not None:
            setattr(PRINT_OPTS, key, value)
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    def __init__(self, values: np.ndarray, floating: bool):
        self.floating, self.int_mode, self.sci_mode, self.max_width = floating, True, False, 1
        flat = values.reshape(-1)
        if not floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
        else:
            self._scan_floats(flat.astype(np.float64))
        if PRINT_OPTS.sci_mode is not None:
            self.sci_mode = PRINT_OPTS.sci_mode

    def _scan_floats(self, flat):
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return
        lo, hi = np.abs(finite).min(), np.abs(finite).max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        p = PRINT_OPTS.precision
        if self.int_mode:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8
            fmt, extra = ("{:.%de}" % p, 0) if self.sci_mode else ("{:.0f}", 1)
        else:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
            fmt, extra = ("{:.%de}" % p, 0) if self.sci_mode else ("{:.%df}" % p, 0)
        for v in finite.tolist():
            self.max_width = max(self.max_width, len(fmt.format(v)) + extra)

    def format(self, value) -> str:
        if self.floating:
            p = PRINT_OPTS.precision
            if self.sci_mode:
                text = "{:{}.{}e}".format(value, self.max_width, p)
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = "{:.{}f}".format(value, p)
        else:
            text = str(value)
        return " " * (self.max_width - len(text)) + text


def summarized(fetch, shape, edge):
    """Host values keeping only ``edge`` items at each end of every dim longer than 2*edge.

    ``fetch(index)`` reads one basic-index view to the host, so a large device tensor is never
    copied whole: at most 2**ndim small blocks are read.
    """
    return _corner_blocks(fetch, tuple(shape), edge, (), 0)


def _corner_blocks(fetch, shape, edge, prefix, dim):
    if dim == len(shape):
        return fetch(prefix)
    size = shape[dim]
    if size > 2 * edge:
        parts = [_corner_blocks(fetch, shape, edge, prefix + (slice(0, edge),), dim + 1),
                 _corner_blocks(fetch, shape, edge, prefix + (slice(size - edge, size),), dim + 1)]
        return np.concatenate(parts, axis=dim)
    return _corner_blocks(fetch, shape, edge, prefix + (slice(None),), dim + 1)


def _vector_str(values, shape, indent, summarize, formatter):
    edge = PRINT_OPTS.edgeitems
    elements_per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) /
                                              (formatter.max_width + 2))))
    items = values.tolist()
    if summarize and shape[0] > 2 * edge:
        data = [formatter.format(v) for v in items[:edge]] + [" ..."] + \
            [formatter.format(v) for v in items[len(items) - edge:]]
    else:
        data = [formatter.format(v) for v in items]
    lines = [", ".join(data[i:i + elements_per_line])
             for i in range(0, len(data), elements_per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(values, shape, indent, summarize, formatter):
    if not shape:
        return formatter.format(values.item())
    if len(shape) == 1:
        return _vector_str(values, shape, indent, summarize, formatter)
    edge = PRINT_OPTS.edgeitems
    rows = [_tensor_str(values[i], shape[1:], indent + 1, summarize, formatter)
            for i in range(values.shape[0])]
    if summarize and shape[0] > 2 * edge:
        rows = rows[:edge] + ["..."] + rows[len(rows) - edge:]
    return ("," + "\n" * (len(shape) - 1) + " " * (indent + 1)).join(rows)\
        .join(["[", "]"])


def tensor_repr(values, shape, dtype, suffixes, numel, default_dtype) -> str:
    """``tensor([...], suffixes)`` for host ``values`` (summarised when numel > threshold)."""
    prefix, indent = "tensor(", len("tensor(")
    if numel == 0:
        body = "[]"
        extra = ([f"size={tuple(shape)}"] if len(shape) != 1 else []) + \
            ([f"dtype={dtype!r}"] if dtype is not default_dtype else [])
    else:
        summarize = numel > PRINT_OPTS.threshold
        formatter = _Formatter(values, dtype.is_floating_point)
        body = _tensor_str(values, tuple(shape), indent, summarize, formatter)
        shown = dtype is default_dtype or dtype.name in ("int64", "bool")
        extra = [] if shown else [f"dtype={dtype!r}"]
    return prefix + _add_suffixes(body, suffixes[:1] + extra + suffixes[1:], indent)


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    return "".join(parts) + ")"
