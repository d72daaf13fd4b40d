"""``cltorch devices`` lists every backend and device; ``cltorch doctor`` self-tests them;
``cltorch run script.py`` runs a PyTorch program on cltorch; ``cltorch bench`` benchmarks
(``cltorch/bench``); ``cltorch tune`` tunes the GEMM kernels (``cltorch/ops/tuning.py``)."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .backend import registry
from .backend.base import DeviceInfo


def _backend_devices():
    """(backend, [DeviceInfo], reason it has none) for every backend."""
    rows = []
    for kind in registry.KINDS:
        try:
            count = registry.device_count(kind)
            infos = [registry.get(f"{kind}:{i}").info() for i in range(count)]
            reason = "" if infos else _missing_reason(kind)
        except Exception as err:  # a broken driver must not break the listing
            infos, reason = [], f"{type(err).__name__}: {err}"
        rows.append((kind, infos, reason))
    return rows


def _missing_reason(kind: str) -> str:
    import importlib.util
    package = {"opencl": "pyopencl", "cuda": "cuda"}[kind]
    if importlib.util.find_spec(package) is None:
        extra = {"opencl": "pocl", "cuda": "cuda"}[kind]
        return f"{package} is not installed (pip install 'cltorch[{extra}]')"
    if kind == "opencl":
        return ("no OpenCL platform found: install your GPU vendor's OpenCL driver, or on "
                "Linux x86-64 `pip install pocl-binary-distribution` for a CPU device")
    return "no NVIDIA driver or CUDA GPU found"


def _mib(n: int) -> str:
    return f"{n / 2 ** 20:,.0f} MiB"


def _print_info(info: DeviceInfo) -> None:
    print(f"  {info.backend}:{info.index}  {info.name}")
    for label, value in (("vendor", info.vendor), ("type", info.type),
                         ("compute units", info.compute_units),
                         ("clock", f"{info.clock_mhz} MHz"),
                         ("global memory", _mib(info.global_mem_bytes)),
                         ("local memory", f"{info.local_mem_bytes // 1024} KiB"),
                         ("max allocation", _mib(info.max_alloc_bytes)),
                         ("max work-group", info.max_work_group_size),
                         ("fp64", "yes" if info.fp64 else "no"),
                         ("fp16", "yes" if info.fp16 else "no (stored, computed in fp32)"),
                         ("version", info.version), ("driver", info.driver)):
        print(f"      {label:15s} {value}")


def devices(as_json: bool) -> int:
    rows = _backend_devices()
    if as_json:
        print(json.dumps({kind: {"devices": [i.as_dict() for i in infos], "reason": reason}
                          for kind, infos, reason in rows}, indent=2))
        return 0
    for kind, infos, reason in rows:
        print(f"{kind}: {len(infos)} device(s)" + (f"  ({reason})" if reason else ""))
        for info in infos:
            _print_info(info)
    print(_accelerator_line())
    return 0


def _accelerator_line() -> str:
    """Which device programs get for ``cuda`` (see ``cltorch.cuda``)."""
    try:
        gpus = registry.accelerators()
    except Exception as err:  # a bad CLTORCH_CUDA must not break the listing
        return f"cuda (as PyTorch programs name the GPU): {err}"
    if not gpus:
        return ("cuda (as PyTorch programs name the GPU): none, so programs run on the cpu "
                "(CLTORCH_CUDA=opencl:0 names an OpenCL device)")
    return ("cuda (as PyTorch programs name the GPU): " +
            ", ".join(f"cuda:{i} = {d.name}" for i, d in enumerate(gpus)))


def _self_test(device) -> list:
    """A few ops of each kernel family on ``device`` against the cpu; returns failures."""
    import cltorch as torch
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((37, 19)).astype(np.float32), rng.standard_normal(19)
    checks = {
        "add/broadcast": lambda t: t(a) + t(b.astype(np.float32)),
        "exp/strided": lambda t: t(a).t().exp(),
        "where": lambda t: torch.where(t(a) > 0, t(a), 0.0),
        "int floor_divide": lambda t: t(np.arange(-20, 20)) // 3,
        "float16": lambda t: (t(a).half() * 3).float(),
        "bfloat16": lambda t: (t(a).bfloat16() + 1).float(),
        "sigmoid": lambda t: t(a).sigmoid(),
        **_family_checks(torch, a, rng),
    }
    failures = []
    for name, fn in checks.items():
        try:
            got = fn(lambda x: torch.tensor(x, device=device)).cpu()._host_values()
            want = fn(lambda x: torch.tensor(x))._host_values()
            if not np.allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True):
                failures.append(f"{name}: max error {np.max(np.abs(got - want)):.3g}")
        except Exception as err:
            failures.append(f"{name}: {type(err).__name__}: {err}")
    return failures


def _family_checks(torch, a, rng) -> dict:
    """One check per kernel family beyond pointwise: (name -> fn(to_tensor) -> tensor)."""
    F = torch.nn.functional
    w = rng.standard_normal((19, 70)).astype(np.float32)
    image = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    kernel = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    index = rng.integers(0, 37, (5, 19))

    def adam(t):
        p = torch.nn.Parameter(t(a))
        p.grad = t(a * 0.5)
        torch.optim.Adam([p], lr=0.1).step()
        return p.detach()

    def random(t):
        torch.manual_seed(3)
        return torch.rand(1000, device=t(a).device) + torch.randn(1000, device=t(a).device)
    return {
        "matmul": lambda t: t(a) @ t(w),
        "matrix-vector": lambda t: t(a) @ t(w[:, 0].copy()),
        "sum/amax/argmax": lambda t: torch.stack([t(a).sum(0)[:19], t(a).amax(1)[:19],
                                                  t(a).argmax(0).float()]),
        "softmax": lambda t: t(a).log_softmax(1),
        "cumsum": lambda t: t(a).cumsum(0),
        "sort": lambda t: t(a).sort(1)[0],
        "gather/scatter_add": lambda t: t(a).gather(0, t(index)) + torch.zeros(
            37, 19, device=t(a).device).scatter_add(0, t(index), t(a[:5].copy()))[:5],
        "conv2d/max_pool2d": lambda t: F.max_pool2d(F.conv2d(t(image), t(kernel), padding=1), 2),
        "random": random,
        "optimizer update": adam,
    }


def doctor() -> int:
    status = 0
    for dev in registry.all_devices():
        failures = _self_test(dev.name)
        print(f"{dev.name:10s} {'PASS' if not failures else 'FAIL'}  {dev.info().name}")
        for failure in failures:
            print(f"    {failure}")
        status |= bool(failures)
    return status


def run(target: list) -> int:
    """Run a PyTorch program with ``import torch`` resolving to cltorch: ``script.py args...``
    or ``-m module args...``, as ``python`` would run it (``__main__``, ``sys.argv``,
    the script's folder first on ``sys.path``); ``-n N script.py...``: N processes under
    MPI (a data-parallel run, distributed/launch.py)."""
    import os
    import runpy
    from .distributed.launch import ranks_option, run_ranks, torchrun_environment
    from .torch_alias import install_as_torch
    count, target = ranks_option(target)
    if count is not None:
        return run_ranks(count, target)
    if not target or (target[0] == "-m" and len(target) < 2) or target[0].startswith(
            ("-n", "--nproc")):
        print("usage: cltorch run [-n N] script.py [args...] | cltorch run [-n N] -m module "
              "[args...]", file=sys.stderr)
        return 2
    torchrun_environment()
    install_as_torch()
    # Processes the program starts (spawn/forkserver workers, Python subprocesses) find the
    # shim package that installs cltorch as torch first on their path too.
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_as_torch")
    sys.path.insert(0, shim)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [shim] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    try:
        if target[0] == "-m":
            sys.argv = [target[1], *target[2:]]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(target)
            sys.path.insert(0, os.path.dirname(os.path.abspath(target[0])))
            runpy.run_path(target[0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:  # everything after the script belongs to the script
        return run(argv[1:])
    if argv[:1] == ["bench"]:  # the suite parses its own options
        from .bench import main as bench
        return bench(argv[1:])
    from .config import VERSION
    parser = argparse.ArgumentParser(prog="cltorch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cltorch {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run a PyTorch program (script.py or -m module) on cltorch, "
                               "with `import torch` resolving to cltorch; -n N: N processes "
                               "under MPI (torch.distributed)")
    listing = sub.add_parser("devices", help="list every backend and device")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("doctor", help="numerical self-test of every device against the cpu")
    sub.add_parser("bench", help="the benchmark suite (cltorch bench --help)")
    cache = sub.add_parser("cache", help="the on-disk kernel binaries")
    cache.add_argument("action", choices=("info", "clear", "warm", "bundle"),
                       help="info: what is cached; clear: remove it; warm: build the kernels of "
                            "the main job and the benchmark models on every accelerator; "
                            "bundle (developers, in the source tree): record the main job's "
                            "kernel bundle on a CPU OpenCL device")
    tune = sub.add_parser("tune", help="measure the GEMM kernels' parameters on each device "
                                       "and keep the fastest (a tuning database beside the "
                                       "kernel cache)")
    tune.add_argument("--device", action="append",
                      help="a device to tune (repeatable; default: every OpenCL and CUDA one)")
    tune.add_argument("--dtype", action="append", choices=("float32", "float64"),
                      help="a dtype to tune (repeatable; default: float32)")
    tune.add_argument("--quick", action="store_true",
                      help="small products: seconds instead of minutes, a rougher choice")
    tune.add_argument("--budget", type=float, metavar="SECONDS",
                      help="at most about this long a device: the search stops there and "
                           "keeps the fastest so far")
    args = parser.parse_args(argv)
    if args.command == "tune":
        return tune_devices(args.device, args.dtype or ["float32"], args.quick, args.budget)
    if args.command == "devices":
        return devices(args.json)
    if args.command == "cache":
        from .kernel_cache import main as cache_command
        return cache_command(args.action)
    return doctor()


def tune_devices(names, dtype_names, quick, budget=None) -> int:
    """``cltorch tune``: gemm.tune on each device, then what it chose and what each candidate
    measured, fastest first."""
    from .ops import gemm, tuning
    devices = [registry.get(name) for name in names] if names else \
        [d for d in registry.all_devices() if d.kind != "cpu"]
    if not devices:
        print("cltorch tune: no OpenCL or CUDA device (the cpu backend runs NumPy's GEMM)")
        return 1
    for device in devices:
        wanted = tuple(d for d in dtype_names if d != "float64" or device.supports_fp64)
        results = gemm.tune(device, wanted, quick, budget=budget)
        print(f"{device.name} ({tuning.device_key(device)}):")
        for key, (params, times) in results.items():
            print(f"  {key}: {_params(params.items())}")
            for candidate, seconds in sorted(times.items(), key=lambda item: item[1]):
                print(f"    {seconds * 1e3:9.3f} ms  {_params(candidate)}")
    print(f"stored in {tuning.database_path()}")
    return 0


def _params(pairs) -> str:
    return " ".join(f"{name}={value}" for name, value in pairs)


if __name__ == "__main__":
    sys.exit(main())
