"""Recording a region's device work for ``cltorch.compile`` (compile/graph.py replays it).

While a Recorder is active, every kernel launch on an OpenCL or CUDA device is appended to its
list of steps, and the work still runs: the capturing call gives eager's results. Whatever the
replay could not repeat faithfully stops the capture (``stop``) with a reason the user is shown:
a value read back to the host, NumPy work on the cpu, a launch from another thread, host-side
random numbers. What only needs Python to run again (an optimizer's step) is recorded as a host
step, and a launch whose scalars must change per call (random numbers' counters) carries a
``refresh`` that rewrites them before each replay.

The hooks below are called from the backend, the tensor layer, autograd, nn and optim; each is
one check of ``ACTIVE[0]`` when nothing is being captured.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

_SCALARS = (int, float, bool, np.generic)  # a launch's scalar arguments
ACTIVE = [None]  # the Recorder of the region being captured (one per process at a time)
COMPILE = [None]  # cltorch.compile, for nn.Module.compile (nn sits below the compiler)


CPU_WORK = ("NumPy computed a cpu tensor (the cpu backend runs eagerly; on a device, keep the "
            "region's tensors on it)")


class CaptureStopped(RuntimeError):
    """A region cannot be captured (``fullgraph=True`` raises it; PyTorch's ``Unsupported``)."""


class Launch:
    """One recorded kernel launch; ``refresh(args)`` (or None) rewrites its arguments before a
    replay."""

    __slots__ = ("device", "kernel", "n_items", "args", "local", "refresh", "form",
                 "prepared")

    def __init__(self, device, kernel, n_items, args, local):
        self.device, self.kernel, self.n_items = device, kernel, n_items
        self.args, self.local, self.refresh, self.form = list(args), local, None, None
        self.prepared = None  # Device.prepare's launch, made when the graph is built

    def buffers(self) -> list:
        """The device buffers among the arguments (the rest are scalars)."""
        return [a for a in self.args if a is not None and not isinstance(a, _SCALARS)]

    def put(self, k: int, value) -> None:
        """Change argument ``k`` for the next runs."""
        if self.args[k] is not value:
            self.args[k] = value
            self.prepared.set(k, value)

    def run(self) -> None:
        if self.refresh is not None:
            self.refresh(self.args)
            for k, value in enumerate(self.args):
                self.prepared.set(k, value)
        self.prepared.run()


class HostStep:
    """Python a replay runs again in its place (an optimizer's ``step``); ``grads`` are the
    ``.grad`` of the leaves written so far when it ran, set again before it runs."""

    __slots__ = ("run", "grads")

    def __init__(self, run, grads):
        self.run, self.grads = run, grads


class Upload:
    """A copy from a host array that a replay refills before it runs (a cpu tensor input moved
    to the device inside the region)."""

    __slots__ = ("device", "buffer", "host")

    def __init__(self, device, buffer, host):
        self.device, self.buffer, self.host = device, buffer, host


class Recorder:
    """The steps of one region, and what its replay must check and restore."""

    def __init__(self, host_inputs=()):
        self.steps = []
        self.why_stopped = None           # the first reason the region cannot be replayed
        self.strict = False               # fullgraph: stop() raises
        self.thread = threading.get_ident()
        self.paused = 0
        self.host_inputs = list(host_inputs)  # NumPy arrays of the cpu tensor inputs
        self.checked = {}                 # device -> error slot buffer its checks write
        self.grads = {}                   # id(leaf) -> [leaf, consulted at entry?, entry grad]
        self.modules = {}                 # id(module) -> (module, its training flag then)
        self.created = set()              # ids of the storages (and buffers) made inside
        self.storages = {}                # id(buffer) -> (weakref to its storage, nbytes)
        self.constants = set()            # ids of buffers filled from the host inside
        self.backward_ran = False         # the region ran autograd's backward

    # ---- what the hooks record ----------------------------------------------------------
    def launch(self, device, kernel, n_items, args, local) -> None:
        if self.paused:
            return
        if threading.get_ident() != self.thread:
            self.stop("a kernel was launched from another thread while the region ran",
                      any_thread=True)
            return
        self.steps.append(Launch(device, kernel, n_items, args, local))

    def made(self, storage) -> None:
        """A storage was made inside the region (by its thread: another thread's tensors,
        a pin-memory thread's say, are none of its business)."""
        if threading.get_ident() != self.thread:
            return
        if storage.device.kind == "cpu":
            self.stop(CPU_WORK)
        self.created.add(id(storage))
        if storage.buffer is not None:
            self.created.add(id(storage.buffer))
            self.storages[id(storage.buffer)] = (weakref.ref(storage), storage.nbytes)

    def alive(self) -> set:
        """Ids of the buffers made inside whose storages Python still holds (outputs,
        gradients, module tensors, anything the region kept)."""
        return {b for b, (ref, _) in self.storages.items() if ref() is not None}

    def stop(self, why: str, any_thread=False) -> None:
        """The region cannot be replayed, for ``why`` (what other threads do is ignored,
        but for a launch)."""
        if self.paused or not any_thread and threading.get_ident() != self.thread:
            return
        if self.why_stopped is None:
            self.why_stopped = why
        if self.strict and why != CPU_WORK:  # a cpu region is told apart at its end
            raise CaptureStopped(f"cltorch.compile(fullgraph=True) cannot capture this "
                                 f"region: {why}")

    def upload(self, device, buffer, host) -> None:
        """A host array copied to a new device buffer: a constant of the region, unless it
        is (a view of) a cpu tensor input, which each replay copies again."""
        if self.paused or threading.get_ident() != self.thread:
            return
        self.constants.add(id(buffer))
        if not self.host_inputs:
            return
        for array in self.host_inputs:
            if np.shares_memory(host, array):
                self.steps.append(Upload(device, buffer, host))
                return
        self.stop("a host array other than a cpu tensor input was copied to the device "
                  "(with cpu tensor inputs, cltorch cannot tell a constant from input data)")

    def note_grad(self, leaf, consulted: bool) -> None:
        """``leaf.grad`` is about to be read (consulted) or written for the first time here."""
        if self.paused or id(leaf) in self.grads:
            return
        self.grads[id(leaf)] = [leaf, consulted, leaf._grad]

    def host_step(self, run) -> None:
        grads = [(entry[0], entry[0]._grad) for entry in self.grads.values()]
        self.steps.append(HostStep(run, grads))


def recording():
    """The active Recorder, or None."""
    return ACTIVE[0]


def stop(why: str) -> None:
    """The region being captured (if any) cannot be replayed, for ``why``."""
    recorder = ACTIVE[0]
    if recorder is not None:
        recorder.stop(why)


def refresh_last(refresh) -> None:
    """Give the launch just recorded a ``refresh(args)`` that each replay runs first."""
    recorder = ACTIVE[0]
    if recorder is not None and not recorder.paused and recorder.steps:
        recorder.steps[-1].refresh = refresh


class Writes:
    """The form of a launch that writes ``buffers`` and only reads its others: what the compiler
    needs to know of a kernel it does not fuse (without a form, all its buffers count as
    written, and nothing it reads can be a constant)."""

    __slots__ = ("buffers",)

    def __init__(self, buffers):
        self.buffers = tuple(buffers)


def describe_last(form) -> None:
    """The launch just recorded is a pointwise kernel of ``form`` (ops/pointwise.py's Form):
    the compiler may fuse it with its neighbours."""
    recorder = ACTIVE[0]
    if recorder is not None and not recorder.paused and recorder.steps:
        recorder.steps[-1].form = form


def note_grad(leaf, consulted: bool) -> None:
    recorder = ACTIVE[0]
    if recorder is not None:
        recorder.note_grad(leaf, consulted)


def note_module(module) -> None:
    """``module`` was called inside the region: its flags and tensors guard the replay."""
    recorder = ACTIVE[0]
    if recorder is not None and not recorder.paused and id(module) not in recorder.modules:
        recorder.modules[id(module)] = (module, module.training)


def note_check(device) -> None:
    """A checking kernel was launched on ``device`` (its error slot joins the graph)."""
    recorder = ACTIVE[0]
    if recorder is not None and not recorder.paused:
        recorder.checked[device] = device.errors.buffer


def as_host_step(method):
    """Wrap ``method`` (an optimizer's or scheduler's ``step``) so that, inside a captured
    region, it runs eagerly and is recorded as a host step: replays call it again, so its
    Python state (step counts, learning rates) moves on as in eager mode."""
    import functools

    @functools.wraps(method)
    def step(self, *args, **kwargs):
        recorder = ACTIVE[0]
        if recorder is None or recorder.paused:
            return method(self, *args, **kwargs)
        if args or kwargs:  # a closure re-evaluates the model: not repeatable as a host step
            recorder.stop(f"{type(self).__name__}.step was given arguments (a closure)")
            return method(self, *args, **kwargs)
        recorder.host_step(lambda: method(self))
        recorder.paused += 1
        try:
            return method(self)
        finally:
            recorder.paused -= 1

    step._host_step = True
    return step


class paused:
    """``with paused():`` work that is no part of the region being captured (if any)."""

    def __enter__(self):
        self.recorder = ACTIVE[0]
        if self.recorder is not None:
            self.recorder.paused += 1

    def __exit__(self, *exc):
        if self.recorder is not None:
            self.recorder.paused -= 1


def run_steps(steps: list) -> None:
    """Launch, run or upload each step in order."""
    for step in steps:
        kind = type(step)
        if kind is Launch:
            step.run()
        elif kind is HostStep:
            for leaf, grad in step.grads:
                leaf._grad = grad
            step.run()
        else:
            step.device.write(step.buffer, step.host)
