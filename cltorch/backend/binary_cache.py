"""Compiled kernels kept on disk under ``CLTORCH_CACHE_DIR``: one file per binary, named by a
hash of everything that changes it (source, options, device, driver, cltorch's version), and
written atomically, so that concurrent processes never read half a file. A warm process loads
its kernels from here instead of compiling them (cuda: cubins from NVRTC; opencl: program
binaries, since pyopencl's own cache stands aside on drivers that say they cache, PoCL and
NVIDIA's among them, and they still rebuild from source in every process)."""
from __future__ import annotations

import hashlib
import os

from .. import config


def key(*parts) -> str:
    """The file name of a binary: a hash of ``parts`` and cltorch's version."""
    return hashlib.sha256(repr(parts + (config.VERSION,)).encode()).hexdigest()


def _path(kind: str, name: str) -> str:
    return os.path.join(config.cache_dir(), kind, name + ".bin")


def load(kind: str, name: str):
    """The cached binary, or None."""
    try:
        with open(_path(kind, name), "rb") as f:
            return f.read()
    except OSError:
        return None


def store(kind: str, name: str, binary: bytes) -> None:
    """Keep ``binary``; a cache that cannot be written is skipped, never an error."""
    path = _path(kind, name)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(binary)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def entries() -> dict:
    """{kind: (files, bytes)} of the cache directory (``cltorch cache info``)."""
    root, found = config.cache_dir(), {}
    for kind in sorted(os.listdir(root)):
        folder = os.path.join(root, kind)
        if os.path.isdir(folder):
            sizes = [os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)]
            found[kind] = (len(sizes), sum(sizes))
    return found
