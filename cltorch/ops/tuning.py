"""GEMM tuning: the parameters of the GEMM kernels per device, dtype and shape class, from a
tuning database that ``cltorch tune`` fills by measuring (gemm.tune) (``tuning.json`` beside
the kernel cache, keyed by the device and its driver), or else from defaults per vendor class
(NVIDIA, AMD, Intel GPU, other GPU, CPU), so an untuned device still gets a sound choice. A
lookup is memoised on the device: one dict get per product on the hot path.

The parameters (kernels_cl/gemm.mako):
  GPUs: the tiled kernel's Tile (CLBlast's xgemm names): mdimc x ndimc items a work-group, an
        mwi x nwi register block an item, kwg of k a local-memory step, vw the width of the
        local reads (1: scalars, the block spread over the tile; 2, 4: vectors, float only), db
        double buffering (0, 1)
  CPUs: mr, the packed kernel's rows of A per panel (its register block is mr x 2 vectors)
Shape classes: "skinny" (a side under 128: one row of tiles) and "large"."""
from __future__ import annotations

import json
import os
import warnings
from typing import NamedTuple

from .. import config


class Tile(NamedTuple):
    """The tiled GEMM's parameters (gemm.mako): a work-group of mdimc x ndimc items computes
    an mwg x nwg block of C, mwi x nwi an item."""
    mdimc: int = 16
    ndimc: int = 16
    mwi: int = 4
    nwi: int = 4
    kwg: int = 16
    vw: int = 1
    db: int = 0

    @property
    def mwg(self) -> int:
        return self.mdimc * self.mwi

    @property
    def nwg(self) -> int:
        return self.ndimc * self.nwi

    @property
    def group(self) -> int:
        return self.mdimc * self.ndimc

    def problem(self) -> str | None:
        """Why the kernel cannot be built with these parameters, or None."""
        if not all(isinstance(v, int) for v in self):
            return "every parameter is an integer"
        if not (1 <= self.mwi <= 8 and 1 <= self.nwi <= 8):
            return "mwi and nwi lie in 1..8 (a register block of at most 8 x 8)"
        if not (1 <= self.mdimc <= 64 and 1 <= self.ndimc <= 64 and self.group <= 1024):
            return "mdimc and ndimc lie in 1..64, mdimc * ndimc at most 1024"
        if not 1 <= self.kwg <= 64:
            return "kwg lies in 1..64"
        if self.vw not in (1, 2, 4) or self.mwi % self.vw or self.nwi % self.vw:
            return "vw is 1, 2 or 4 and divides mwi and nwi"
        if self.db not in (0, 1):
            return "db is 0 or 1"
        return None

    def local_bytes(self, itemsize: int) -> int:
        """The local memory of its tiles (padded rows; two sets when double-buffered)."""
        return (2 if self.db else 1) * self.kwg * (self.mwg + self.nwg + 2 * self.vw) * itemsize


# The tiles the GEMM falls back to: MEDIUM (64 x 64) where a larger tile's groups would not
# fill the device; SMALL (32 x 32, 64 items) where a device's work-groups or local memory are
# too small for the tuned tile.
LARGE, MEDIUM = Tile(mwi=8, nwi=8, kwg=8), Tile()
SMALL = Tile(mdimc=8, ndimc=8)

# Each GPU parameter's values that `cltorch tune` tries (a coordinate search from the vendor
# default, gemm.tune); vw > 1 and db are CLBlast's vector reads and double buffering, not yet
# measured on a GPU
SPACE = {"gpu": {"mwi": (2, 4, 8), "nwi": (2, 4, 8), "mdimc": (8, 16, 32),
                 "ndimc": (8, 16, 32), "kwg": (8, 16, 32), "vw": (1, 2, 4), "db": (0, 1)},
         "cpu": {"mr": (4, 6, 8)}}
CLASSES = ("large", "skinny")
# Measured: NVIDIA, an H200 (the 128 x 128 tile, 8 x 8 an item, took 4096^3 from 7.0 to 5.5
# ms; 64-row products and 1024^3 ran 1.3-1.9x slower with it); CPU, PoCL 3 on an AMD EPYC (6 x
# 16 holds 12 accumulators and 3 operands in 16 AVX registers: 83 GF/s at 1024^3 against 55
# with 8 x 16). AMD and Intel GPUs have not run cltorch: the smaller block, whose registers
# fit every GPU we know of.
DEFAULTS = {
    "nvidia": {"large": LARGE._asdict(), "skinny": MEDIUM._asdict()},
    "amd": {"large": MEDIUM._asdict(), "skinny": MEDIUM._asdict()},
    "intel": {"large": MEDIUM._asdict(), "skinny": MEDIUM._asdict()},
    "gpu": {"large": MEDIUM._asdict(), "skinny": MEDIUM._asdict()},
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
        # an entry for the other kernel style (a CPU device's GPU-style tests), or one of an
        # older version's parameters, does not apply
        found = device.plans[key] = entry if _applies(entry, default) else default
    return found


def _applies(entry, default) -> bool:
    if not isinstance(entry, dict) or entry.keys() != default.keys():
        return False
    return "mr" in entry or Tile(**entry).problem() is None


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
