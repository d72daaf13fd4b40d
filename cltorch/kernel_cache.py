"""``cltorch cache info|clear|warm|bundle``: the on-disk kernel binaries
(backend/binary_cache.py), and the main job's kernel bundle (backend/bundles.py).

``warm`` builds every kernel that the main job and the benchmark models use, on every
accelerator (OpenCL or CUDA device), so that a later first run compiles nothing. To ship a
pre-built cache, run ``cltorch cache warm`` with ``CLTORCH_CACHE_DIR`` pointing at a folder,
copy that folder to machines with the same device, driver and cltorch version, and point
``CLTORCH_CACHE_DIR`` at it there (a binary for another driver or version is never loaded:
the file names hash them).
"""
from __future__ import annotations

import os
import shutil
import sys

from . import config
from .backend import binary_cache, registry

KINDS = ("opencl", "cuda")


def info() -> int:
    """Print the cache folder and what it holds."""
    print(f"kernel cache: {config.cache_dir()}")
    found = binary_cache.entries()
    for kind in KINDS:
        files, size = found.get(kind, (0, 0))
        print(f"  {kind}: {files} binaries, {size / 2 ** 20:.1f} MiB")
    for dev in registry.all_devices():
        if dev.kind == "opencl" and not dev.keep_binaries:
            print(f"  {dev.name} is a CPU device: it keeps binaries only from `cltorch cache "
                  "warm`; other kernels it rebuilds from its driver's own cache")
    return 0


def clear() -> int:
    """Remove every cached binary."""
    for kind in KINDS:
        shutil.rmtree(os.path.join(config.cache_dir(), kind), ignore_errors=True)
    print(f"cleared {config.cache_dir()}")
    return 0


def warm() -> int:
    """Build the kernels of the main job and the benchmark models on every accelerator."""
    from .bench.models import cases
    from .bench.targets import Target
    import cltorch
    devices = [d for d in registry.all_devices() if d.kind != "cpu"]
    if not devices:
        print("no OpenCL or CUDA device: nothing to build")
        return 0
    work = [(c, d) for d in devices for c in cases(quick=True)]
    for case, dev in _progress(work):
        target = Target(f"cltorch {dev.name}", "cltorch", cltorch, dev.name, dev.synchronize)
        case.build(target)()
        dev.synchronize()
    for dev in devices:
        _accuracy_count(cltorch, dev.name)
    for dev in devices:  # after the steps ran: a CPU device's binaries then carry their code
        dev.store_binaries()
    print(f"built {sum(len(d.kernels) for d in devices)} kernels on "
          f"{', '.join(d.name for d in devices)}")
    return info()


def bundle() -> int:
    """Record the main job's kernels as its bundle (backend/bundles.py): a developer's step
    after a template change, run from the source tree on a CPU OpenCL device (PoCL)."""
    from .backend import bundles
    for name, workload in bundles.WORKLOADS.items():
        print(bundles.write(name, record(workload)))
    return 0


def record(workload: list) -> list:
    """Run ``workload`` (a script of the source tree and its arguments) in this process and
    return the (kernel name, source) of every kernel opencl:0 compiled, in order."""
    import runpy
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv, sys.argv = sys.argv, list(workload)
    try:
        runpy.run_path(os.path.join(root, workload[0]), run_name="__main__")
    except SystemExit:
        pass
    finally:
        sys.argv = argv
    return [(name, source) for source, name in registry.get("opencl:0").kernels]


def _accuracy_count(cltorch, device: str) -> int:
    """What the main job computes beyond the LeNet step: its accuracy count
    (examples/train_digits.py), with the same dtypes and layouts."""
    logits = cltorch.zeros(4, 10, device=device)
    labels = cltorch.zeros(4, dtype=cltorch.int64, device=device)
    return int((logits.argmax(1) == labels).sum().item())


def _progress(items):
    try:
        from tqdm import tqdm
        return tqdm(items, unit="model step", file=sys.stderr)
    except ImportError:
        return items


def main(action: str) -> int:
    return {"info": info, "clear": clear, "warm": warm, "bundle": bundle}[action]()
