"""GEMM tuning: the parameters of the GEMM kernels per device, dtype and shape class, from a
tuning database that ``cltorch tune`` fills by measuring (gemm.tune) (``tuning.json`` beside the kernel
cache, keyed by the device and its driver), or else from defaults per vendor class (NVIDIA,
AMD, Intel GPU, other GPU, CPU), so an untuned device still gets a sound choice. A lookup is
memoised on the device: one dict get per product on the hot path.

The parameters (kernels_cl/gemm.mako):
  wpt  GPUs, the tiled kernel's register block per item: 4 (64 x 64 tiles) or 8 (128 x 128)
  mr   CPUs, the packed kernel's rows of A per panel (its register block is mr x 2 vectors)
Shape classes: "skinny" (a side under 128: one row of tiles) and "large"."""
from __future__ import annotations

import json
import os
import warnings

from .. import config

SPACE = {"gpu": {"wpt": (4, 8)}, "cpu": {"mr": (4, 6, 8)}}
CLASSES = ("large", "skinny")
# Measured: NVIDIA, an H200 (8 x 8 took 4096^3 from 7.0 to 5.5 ms; 64-row products and 1024^3
# ran 1.3-1.9x slower with it); CPU, PoCL 3 on an AMD EPYC (6 x 16 holds 12 accumulators and
# 3 operands in 16 AVX registers: 83 GF/s at 1024^3 against 55 with 8 x 16). AMD and Intel GPUs
# have not run cltorch: the smaller block, whose registers fit every GPU we know of.
DEFAULTS = {
    "nvidia": {"large": {"wpt": 8}, "skinny": {"wpt": 4}},
    "amd": {"large": {"wpt": 4}, "skinny": {"wpt": 4}},
    "intel": {"large": {"wpt": 4}, "skinny": {"wpt": 4}},
    "gpu": {"large": {"wpt": 4}, "skinny": {"wpt": 4}},
    "cpu": {"large": {"mr": 6}, "skinny": {"mr": 6}},
}
FORCED = {}  # (parameter: value) while gemm.tune measures a candidate


def vendor_class(device) -> str:
    """"cpu" for a CPU device (PoCL), else the GPU's vendor: nvidia, amd, intel or gpu."""
    if device.cpu_like:
        return "cpu"
    vendor = device.info().vendor.lower()
    for name, words in (("nvidia", ("nvidia",)), ("amd", ("amd", "advanced micro")),
                        ("intel", ("intel",))):
        if any(word in vendor for word in words):
            return name
    return "gpu"


def shape_class(m: int, n: int) -> str:
    return "skinny" if min(m, n) < 128 else "large"


def device_key(device) -> str:
    """The database key: the backend, the device and its driver (a new driver is tuned
    anew)."""
    info = device.info()
    return " | ".join((info.backend, info.vendor, info.name, info.version, info.driver))


def gemm_params(device, dtype, m: int, n: int) -> dict:
    """The GEMM parameters for products of ``dtype`` of shape class (m, n) on ``device``."""
    if FORCED:
        return FORCED
    key = ("tuning", dtype.name, shape_class(m, n), device.cpu_like)
    found = device.plans.get(key)
    if found is None:
        default = DEFAULTS[vendor_class(device)][key[2]]
        entry = _database().get(device_key(device), {}).get(f"{dtype.name} {key[2]}")
        # an entry for the other kernel style (a CPU device's GPU-style tests) does not apply
        found = device.plans[key] = entry if entry and entry.keys() == default.keys() \
            else default
    return found


def database_path() -> str:
    return os.path.join(config.cache_dir(), "tuning.json")


def _database() -> dict:
    try:
        with open(database_path()) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:  # a damaged file: the defaults, and say so
        warnings.warn(f"cltorch: ignoring the tuning database {database_path()}: {err}",
                      RuntimeWarning, stacklevel=3)
        return {}


def store(device, entries: dict) -> None:
    """Merge ``entries`` into the database under the device's key (atomically replaced) and
    forget the device's memoised lookups."""
    data = _database()
    data.setdefault(device_key(device), {}).update(entries)
    path = database_path()
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(temporary, path)
    forget(device)


def forget(device) -> None:
    """Drop the device's memoised lookups (the next product reads the database again)."""
    for key in [k for k in device.plans if isinstance(k, tuple) and k[:1] == ("tuning",)]:
        del device.plans[key]
