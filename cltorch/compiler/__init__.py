"""``torch.compile`` and ``torch.compiler``: capture a region's device work once, replay it.

``compile(fn)`` returns a callable that gives eager's results. Per guard set (the tensor
inputs' shapes, dtypes, devices and requires_grad, the other arguments' values, grad mode,
autocast) the first call runs eagerly (a warm-up that creates optimizer state and
gradients), the second runs eagerly while recording every kernel launch, and later calls
replay the recorded launch list (graph.py). A training step is captured whole: forward,
``backward()`` and the optimizer's ``step()``.

What cannot be replayed exactly (a value read back to the host, NumPy work on the cpu,
host-side random numbers, an output whose backward runs outside the region) makes that guard
set run eagerly, with an explanation: a one-time warning, and every detail on stderr with
``CLTORCH_LOGS=graph_breaks,recompiles,graphs``. ``fullgraph=True`` raises instead. On the
NumPy cpu backend there are no kernels to record, and compiled regions run eagerly.
"""
from __future__ import annotations

import sys
import threading
import types
import warnings
import weakref

from .. import config
from ..amp import autocast_mode
from ..autograd import engine, grad_mode
from ..backend import capture as _capture
from ..backend.capture import CPU_WORK
from ..nn.modules.module import Module
from ..tensor import Tensor
from .graph import capture, flatten

__all__ = ["compile", "reset", "disable", "is_compiling", "is_dynamo_compiling",
           "allow_in_graph", "cudagraph_mark_step_begin", "OptimizedModule", "Unsupported"]

Unsupported = _capture.CaptureStopped
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CAPTURING_BACKENDS = ("inductor", "cudagraphs")
EAGER_BACKENDS = ("eager", "aot_eager", "aot_eager_decomp_partition")
# torch._dynamo.config: cache_size_limit (guard sets, and captures of one, per region);
# suppress_errors is accepted (a region that cannot be captured always runs eagerly here)
SETTINGS = types.SimpleNamespace(cache_size_limit=8, suppress_errors=False, verbose=False)
_compiled = weakref.WeakSet()  # the CompiledFunctions alive, for reset()


class InvalidBackend(RuntimeError):
    """An unknown ``backend=`` name (PyTorch's ``torch._dynamo.exc.InvalidBackend``)."""


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,
            options=None, disable=False):
    """``torch.compile``: ``model`` (a function or an ``nn.Module``) captured and replayed
    (see the module docstring). Works as a decorator too, with or without arguments."""
    if model is None:
        return lambda fn: compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                  mode=mode, options=options, disable=disable)
    if not callable(model):
        raise RuntimeError("compile: expected a callable or an nn.Module")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if mode is not None and mode not in MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(MODES)}")
    if isinstance(backend, str) and backend not in CAPTURING_BACKENDS + EAGER_BACKENDS:
        raise InvalidBackend(f"Invalid backend: {backend!r}, see "
                             f"`torch._dynamo.list_backends()` for available backends.")
    if disable:
        return model
    region = CompiledFunction(model, fullgraph=fullgraph, captures=backend in
                              CAPTURING_BACKENDS, backend=backend)
    if isinstance(model, Module):
        return OptimizedModule(model, region)
    return region


class CompiledFunction:
    """A compiled region: its graphs by guard set, warm-up counts and explanations."""

    def __init__(self, fn, fullgraph=False, captures=True, backend="inductor"):
        self.fn, self.fullgraph, self.captures = fn, fullgraph, captures
        self.module = fn if isinstance(fn, Module) else None  # its training flag is a guard
        self.name = getattr(fn, "__qualname__", None) or type(fn).__name__
        self.entries = {}    # guard key -> _Entry
        self.warned = False
        self.lock = threading.RLock()
        if not captures and not isinstance(backend, str):
            self._explain("graph_breaks", "a callable backend gets no FX graph here: the "
                          "region runs eagerly")
        self.__wrapped__ = fn
        _compiled.add(self)

    def __call__(self, *args, **kwargs):
        if not self.captures or _capture.ACTIVE[0] is not None:  # nested: the outer records
            return self.fn(*args, **kwargs)
        with self.lock:  # a replay rebinds its launches' arguments: one thread at a time
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        leaves = []
        spec = flatten((args, kwargs), leaves)
        key = self._key(leaves)
        entry = self.entries.get(key)
        if entry is None:
            limit = SETTINGS.cache_size_limit
            if len(self.entries) >= limit:
                self._explain("recompiles", f"more than {limit} guard sets "
                              f"(cache_size_limit): new ones run eagerly", warn=True)
                return self.fn(*args, **kwargs)
            entry = self.entries[key] = _Entry()
        graph = entry.graph
        if graph is not None:
            why = graph.invalid()
            if why is None:
                if graph.busy():  # the last replay's backward is still to come
                    return self.fn(*args, **kwargs)
                return graph.replay(leaves)
            entry.graph = None
            entry.recaptures += 1
            self._explain("recompiles", f"captured again: {why}")
            if entry.recaptures > SETTINGS.cache_size_limit:
                entry.eager = f"captured {SETTINGS.cache_size_limit} times over ({why})"
                self._explain("recompiles", f"runs eagerly from now on: {entry.eager}",
                              warn=True)
        if entry.eager:
            return self.fn(*args, **kwargs)
        wants_grad = any(isinstance(leaf, Tensor) and leaf.requires_grad for leaf in leaves)
        why = "a tensor input requires grad" if wants_grad and self.fullgraph else None
        if why is None and entry.calls == 0 and not self.fullgraph:
            entry.calls += 1  # warm-up: optimizer state and gradients come into being
            runs = engine.RUNS[0]
            versions = [leaf._storage.version for leaf in leaves
                        if isinstance(leaf, Tensor) and leaf.requires_grad]
            result = self.fn(*args, **kwargs)
            if wants_grad:
                entry.eager = _past_inputs(leaves, versions, runs)
                if entry.eager:
                    self._explain("graph_breaks", f"runs eagerly: {entry.eager}", warn=True)
            return result
        if why is None:
            result, entry.graph, why = capture(self.fn, spec, leaves, self.fullgraph)
            if why is None:
                self._explain("graphs", f"captured {entry.graph.launches} launches in "
                              f"{len(entry.graph.steps)} steps")
                return result
            if self.fullgraph and why != CPU_WORK:
                raise Unsupported(f"cltorch.compile(fullgraph=True) cannot capture this "
                                  f"region: {why}")
        else:
            if self.fullgraph:
                raise Unsupported(f"cltorch.compile(fullgraph=True) cannot capture this "
                                  f"region: {why}")
            result = self.fn(*args, **kwargs)
        entry.eager = why
        self._explain("graph_breaks", f"runs eagerly: {why}", warn=why != CPU_WORK)
        return result

    def _key(self, leaves: list) -> tuple:
        parts = [grad_mode.is_grad_enabled(), tuple(autocast_mode._active.items()),
                 self.module is not None and self.module.training]
        for leaf in leaves:
            if isinstance(leaf, Tensor):
                parts.append((leaf._shape, leaf.dtype, leaf._storage.device.name,
                              leaf._requires_grad))
            elif isinstance(leaf, (int, float, bool, str, bytes, type(None), complex)):
                parts.append((type(leaf), leaf))
            else:
                parts.append((type(leaf), id(leaf)))
        return tuple(parts)

    def _explain(self, kind: str, message: str, warn: bool = False) -> None:
        text = f"cltorch.compile: {self.name} {message}"
        if kind in config.compile_logs():
            print(f"[{kind}] {text}", file=sys.stderr, flush=True)
        elif warn and not self.warned:
            self.warned = True
            warnings.warn(f"{text} (CLTORCH_LOGS=graph_breaks,recompiles says more)",
                          stacklevel=3)

    def reset(self) -> None:
        self.entries.clear()


def _past_inputs(leaves: list, versions: list, runs: int):
    """Why a region given tensors that require grad cannot be captured, seen at its warm-up
    (None where it can): its autograd would reach past those inputs, into the caller's
    graph, where it runs a backward or writes one of them in place."""
    if engine.RUNS[0] != runs:
        return "a tensor input requires grad and the region runs a backward"
    now = [leaf._storage.version for leaf in leaves
           if isinstance(leaf, Tensor) and leaf.requires_grad]
    return "a tensor input that requires grad is written in place" if now != versions else None


class _Entry:
    """One guard set: its calls so far, its graph, or why it runs eagerly."""

    __slots__ = ("calls", "graph", "eager", "recaptures")

    def __init__(self):
        self.calls, self.graph, self.eager, self.recaptures = 0, None, None, 0


class OptimizedModule(Module):
    """What ``compile(module)`` returns: calls run the captured region; every other attribute
    is the original module's (``_orig_mod``), and the state dict's keys start with
    ``_orig_mod.`` as PyTorch's do."""

    def __init__(self, mod: Module, region: CompiledFunction):
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_region", region)

    def forward(self, *args, **kwargs):
        return self._region(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)


_capture.COMPILE[0] = compile


def reset() -> None:
    """Forget every capture (``torch.compiler.reset``): the next calls capture again."""
    for region in _compiled:
        region.reset()


def disable(fn=None, recursive=True):
    """``torch.compiler.disable``: ``fn`` is not captured; inside a compiled region it makes
    the region run eagerly (its work could not be replayed apart from it)."""
    if fn is None:
        return lambda f: disable(f, recursive)
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        _capture.stop(f"{getattr(fn, '__qualname__', fn)} is marked torch.compiler.disable")
        return fn(*args, **kwargs)
    return run


def is_compiling() -> bool:
    """True while a region is being captured."""
    return _capture.ACTIVE[0] is not None


is_dynamo_compiling = is_compiling


def allow_in_graph(fn):
    return fn


def cudagraph_mark_step_begin() -> None:
    """A no-op: replays here hand back fresh output tensors, never the graph's own."""
