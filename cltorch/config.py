"""Process-wide settings read from the environment: a leaf module.

- ``CLTORCH_DEVICE``: the default device for new tensors (``cpu`` unless set), as
  ``cltorch.set_default_device`` would set it.
- ``CLTORCH_CUDA``: the devices that ``cuda:0``, ``cuda:1``... name (``opencl:1``,
  ``opencl:0,opencl:1``, ``none``); unset, the CUDA backend's GPUs, else the OpenCL GPUs.
- ``CLTORCH_MEMORY_FRACTION``: the share of each device's memory live tensors may hold, as
  ``torch.cuda.set_per_process_memory_fraction`` sets it (default: no limit on GPUs, all of
  its reported memory on a host-memory device).
- ``CLTORCH_LAUNCH_BLOCKING`` (or PyTorch's ``CUDA_LAUNCH_BLOCKING``) ``=1``: a device-side
  check (index range, probability) waits for its kernel, so that a failure raises at the op
  that caused it rather than at the next synchronisation.
- ``CLTORCH_EXACT_BUFFERS=1``: every OpenCL allocation is a driver buffer of exactly the size
  asked (no pool rounding or reuse), so that a memory checker (Oclgrind) sees an access one
  element past a tensor. Slow; for the bounds tests. ``=keep``: also never hand one back, so
  that no address is reused (Oclgrind 21.10's uninitialised-value check keeps a freed
  buffer's size for its address and reports a larger buffer's tail there as uninitialised).
- ``CLTORCH_KERNEL_STYLE`` ``=cpu`` or ``=gpu``: which variant of the kernels an OpenCL device
  runs (loops for a CPU, work-groups and local memory for a GPU); by default a device that
  says it is a CPU and not a GPU gets the CPU variants.
- ``CLTORCH_BUILD_OPTIONS``: extra OpenCL build options, space-separated (``-cl-opt-disable``
  for Oclgrind's uninitialised-value checks, which stop on optimised code); part of the kernel
  cache key.
- ``CLTORCH_NO_FP64=1``: OpenCL devices are treated as having no fp64 (as many Intel and
  mobile GPUs have none), for testing that float64 is refused cleanly and tests skip.
- ``CLTORCH_DEBUG=1``: kernel compiler warnings reach stderr (hidden otherwise).
- ``CLTORCH_LOGS``: what ``cltorch.compile`` explains on stderr, comma-separated, as PyTorch's
  ``TORCH_LOGS`` (also read): ``graph_breaks`` (why a region runs eagerly), ``recompiles``
  (why a region is captured again), ``graphs`` (what each capture recorded); ``all``: every one.
- ``CLTORCH_CACHE_DIR``: where compiled kernel binaries are kept (default: the user cache dir).
"""
from __future__ import annotations

import importlib.util
import os

import platformdirs

VERSION = "0.1.0"


def cache_dir() -> str:
    """Directory of the on-disk kernel binary cache (created on first use)."""
    path = os.environ.get("CLTORCH_CACHE_DIR") or platformdirs.user_cache_dir("cltorch")
    os.makedirs(path, exist_ok=True)
    return path


def default_device_string() -> str:
    return os.environ.get("CLTORCH_DEVICE", "cpu")


def launch_blocking() -> bool:
    """CLTORCH_LAUNCH_BLOCKING=1 or CUDA_LAUNCH_BLOCKING=1."""
    return "1" in (os.environ.get("CLTORCH_LAUNCH_BLOCKING"),
                   os.environ.get("CUDA_LAUNCH_BLOCKING"))


def compile_logs() -> set:
    """CLTORCH_LOGS (or TORCH_LOGS): the ``cltorch.compile`` explanations asked for."""
    raw = os.environ.get("CLTORCH_LOGS") or os.environ.get("TORCH_LOGS") or ""
    names = {name.strip().lstrip("+") for name in raw.split(",") if name.strip()}
    if names & {"all", "dynamo"}:
        names |= {"graph_breaks", "recompiles", "graphs"}
    return names


def debug() -> bool:
    """CLTORCH_DEBUG=1."""
    return os.environ.get("CLTORCH_DEBUG") == "1"


def exact_buffers() -> bool:
    """CLTORCH_EXACT_BUFFERS=1 or =keep."""
    return os.environ.get("CLTORCH_EXACT_BUFFERS") in ("1", "keep")


def keep_buffers() -> bool:
    """CLTORCH_EXACT_BUFFERS=keep."""
    return os.environ.get("CLTORCH_EXACT_BUFFERS") == "keep"


def build_options() -> list:
    """CLTORCH_BUILD_OPTIONS, split on spaces (empty when unset)."""
    return os.environ.get("CLTORCH_BUILD_OPTIONS", "").split()


def no_fp64() -> bool:
    """CLTORCH_NO_FP64=1."""
    return os.environ.get("CLTORCH_NO_FP64") == "1"


def gemm_tile() -> dict:
    """CLTORCH_GEMM_TILE, e.g. "mwi=8,nwi=8,kwg=8" or "db=1": tiled GEMM parameters
    (ops/tuning.Tile's names) forced over the tuned ones for every product on a GPU (for
    measuring one choice against another); {} when unset."""
    value = os.environ.get("CLTORCH_GEMM_TILE", "").strip()
    forced = {}
    for item in filter(None, value.split(",")):
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in ("mdimc", "ndimc", "mwi", "nwi", "kwg", "vw", "db") or \
                not number.strip().isdigit():
            raise ValueError(f"CLTORCH_GEMM_TILE={value}: expected name=integer pairs "
                             "(names mdimc, ndimc, mwi, nwi, kwg, vw, db), comma-separated")
        forced[name] = int(number)
    return forced


def winograd():
    """CLTORCH_WINOGRAD: "1" sends 3x3 stride-1 convolutions on OpenCL/CUDA devices through
    Winograd's tiles (ops/winograd.py); "0" or unset (None) does not."""
    value = os.environ.get("CLTORCH_WINOGRAD") or None
    if value not in (None, "0", "1"):
        raise ValueError(f"CLTORCH_WINOGRAD={value}: expected 0 or 1")
    return None if value is None else value == "1"


def kernel_style():
    """CLTORCH_KERNEL_STYLE ("cpu" or "gpu"), or None when unset."""
    style = os.environ.get("CLTORCH_KERNEL_STYLE") or None
    if style not in (None, "cpu", "gpu"):
        raise ValueError(f"CLTORCH_KERNEL_STYLE={style}: expected cpu or gpu")
    return style


def accelerator_pin():
    """CLTORCH_CUDA, or None when unset."""
    return os.environ.get("CLTORCH_CUDA")


def memory_fraction():
    """CLTORCH_MEMORY_FRACTION as a float in [0, 1], or None when unset."""
    text = os.environ.get("CLTORCH_MEMORY_FRACTION")
    if text is None or not text.strip():
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"CLTORCH_MEMORY_FRACTION={text}: allowed range is 0~1")
    return value


def template_folder() -> str:
    """Where the kernel templates (and their bundles) are: ``cltorch.kernels_cl`` once
    installed, else the source tree's top-level ``kernels_cl/`` beside ``cltorch/``."""
    spec = importlib.util.find_spec("cltorch.kernels_cl")
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "kernels_cl")
    if not os.path.isdir(source):
        raise RuntimeError("cltorch's kernel templates (cltorch.kernels_cl) are not installed")
    return source
