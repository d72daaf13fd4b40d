"""``cltorch.profiler`` (``torch.profiler``): importable; ``record_function`` labels are
accepted (they change nothing); the profiler itself is not implemented (py-spy profiles
cltorch programs, see the README)."""
from __future__ import annotations

import contextlib
import enum


class ProfilerActivity(enum.Enum):
    CPU = "CPU"
    CUDA = "CUDA"


class record_function(contextlib.ContextDecorator):  # noqa: N801 - PyTorch's name
    """A labelled region: accepted and timed by nothing."""

    def __init__(self, name, args=None):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def schedule(*, wait, warmup, active, repeat=0, skip_first=0):
    return lambda step: None


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    return lambda prof: None


class profile:  # noqa: N801 - PyTorch's name
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("torch.profiler.profile is not supported by cltorch; "
                                  "profile the program with py-spy instead")
