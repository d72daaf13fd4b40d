"""Kernel bundles: the kernels a known workload uses, compiled together as one program.

A CPU OpenCL driver pays a fixed cost per program, whatever its size: PoCL took 4.1 s of CPU
to build the main job's 35 kernels as 35 programs and 0.66 s to build them as one. A bundle
is a list of kernel sources recorded from a workload (``kernels_cl/bundles/*.json.gz``, made by
``cltorch cache bundle`` in the source tree); the first time a device needs a kernel whose source is
in a bundle, it builds the whole bundle as one program (``combine``) and takes the other
kernels from it as they are asked for. A device that renders other sources (another driver,
other work-group sizes) never matches one and builds program by program, as before.
"""
from __future__ import annotations

import functools
import gzip
import json
import os
import re

from .. import config

# Each bundle: the workload (a script of the source tree, its arguments) that records it, run in
# a fresh process on an OpenCL CPU device (kernel_cache.bundle).
WORKLOADS = {"main_job": ["examples/train_digits.py", "--device", "opencl", "--epochs", "1"]}


def folder() -> str:
    return os.path.join(config.template_folder(), "bundles")


@functools.lru_cache(maxsize=None)
def _members() -> dict:
    """{source: bundle name} over every shipped bundle (read at the first compile)."""
    found = {}
    for name in WORKLOADS:
        for _, source in read(name):
            found.setdefault(source, name)
    return found


def bundle_of(source: str):
    """The name of the bundle holding ``source``, or None."""
    return _members().get(source)


@functools.lru_cache(maxsize=None)
def read(name: str) -> tuple:
    """The (kernel name, source) entries of bundle ``name`` (none when it is not shipped)."""
    try:
        with gzip.open(os.path.join(folder(), name + ".json.gz"), "rt", encoding="utf-8") as f:
            return tuple(tuple(entry) for entry in json.load(f))
    except OSError:
        return ()


def write(name: str, entries) -> str:
    """Store bundle ``name`` (``cltorch cache bundle``); returns the file written."""
    os.makedirs(folder(), exist_ok=True)
    path = os.path.join(folder(), name + ".json.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as raw:  # mtime 0: the same bytes for the same kernels
        raw.write(json.dumps([list(e) for e in entries], indent=0).encode("utf-8"))
    return path


_FUNCTION = re.compile(r"\b(?:INLINE [\w ]+?|KERNEL void)\s+(\w+)\(")
_MACRO = re.compile(r"^\s*#define\s+(\w+)", re.M)


def combine(entries) -> tuple:
    """One source holding every (kernel name, source) entry, and each kernel's name in it.

    Each source stays whole (its prelude included) between ``#define`` lines that give its
    functions names of their own (``f`` -> ``f_b3``) and ``#undef`` lines that retire its
    macros and those names, so that no two entries clash."""
    parts, names = [], []
    for i, (kernel, source) in enumerate(entries):
        functions = sorted(set(_FUNCTION.findall(source)))
        macros = set(_MACRO.findall(source))
        parts.append("".join(f"#define {f} {f}_b{i}\n" for f in functions) + source + "\n" +
                     "".join(f"#undef {m}\n" for m in sorted(set(functions) | macros)))
        names.append(f"{kernel}_b{i}")
    return "\n".join(parts), names
