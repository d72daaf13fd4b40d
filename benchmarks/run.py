"""Cross-backend benchmark: pointwise ops on every available device against NumPy (and PyTorch
on the CPU when it is installed). It measures; it asserts nothing.

    python benchmarks/run.py [--size 2**24] [--repeat 20] [--json bench-results.json]

Figures: the host time of one tiny op (dispatch overhead, 1 element, averaged over a burst with
one synchronisation at the end), the effective bandwidth of a large add (3 arrays of float32
moved: 2 reads + 1 write) and of a full sum (1 array read), and the time of pointwise ops,
reductions and a softmax over rows of 1024 on the large size.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

import cltorch
from cltorch.backend import registry

OPS = {"add": lambda m, a, b: m.add(a, b), "mul": lambda m, a, b: m.multiply(a, b),
       "exp": lambda m, a, b: m.exp(a), "sigmoid": lambda m, a, b: _sigmoid(m, a),
       "where": lambda m, a, b: m.where(a > b, a, b),
       "sum": lambda m, a, b: m.sum(a), "amax": lambda m, a, b: m.amax(a),
       "rowsum": lambda m, a, b: m.sum(a.reshape(-1, 1024), 1),
       "softmax": lambda m, a, b: _softmax(m, a.reshape(-1, 1024))}


def _sigmoid(module, a):
    return 1 / (1 + np.exp(-a)) if module is np else module.sigmoid(a)


def _softmax(module, a):
    if module is not np:
        return module.softmax(a, 1)
    e = np.exp(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _median_time(fn, sync, repeat):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _targets():
    """(label, module, make-array, synchronise) for every device and reference."""
    out = []
    for dev in registry.all_devices():
        name = dev.name if dev.kind != "cpu" else "cpu (cltorch NumPy fallback)"
        out.append((name, cltorch, lambda x, d=dev.name: cltorch.tensor(x, device=d),
                    dev.synchronize))
    out.append(("numpy", np, lambda x: x, lambda: None))
    try:
        import torch
        out.append((f"torch {torch.__version__} cpu", torch, torch.from_numpy, lambda: None))
    except ImportError:
        pass
    return out


def run(size: int, repeat: int) -> list:
    rng = np.random.default_rng(0)
    big_a, big_b = (rng.standard_normal(size).astype(np.float32) for _ in range(2))
    tiny = np.ones(1, np.float32)
    rows = []
    for label, module, make, sync in _targets():
        a, b, t1, t2 = make(big_a), make(big_b), make(tiny), make(tiny.copy())
        burst = 200
        tiny_s = _median_time(lambda: [module.add(t1, t2) for _ in range(burst)], sync,
                              max(3, repeat // 4)) / burst
        row = {"target": label, "tiny_op_us": tiny_s * 1e6}
        for op, fn in OPS.items():
            row[f"{op}_ms"] = _median_time(lambda fn=fn: fn(module, a, b), sync, repeat) * 1e3
        row["add_GBps"] = 3 * size * 4 / (row["add_ms"] / 1e3) / 1e9
        row["sum_GBps"] = size * 4 / (row["sum_ms"] / 1e3) / 1e9
        rows.append(row)
        print(_format(row), flush=True)
    return rows


def run_matmul(sizes, repeat: int) -> list:
    """GFLOP/s of a square float32 matmul per size and target."""
    rows = []
    for label, module, make, sync in _targets():
        row = {"target": label}
        for n in sizes:
            a = make(np.random.default_rng(n).standard_normal((n, n)).astype(np.float32))
            seconds = _median_time(lambda: module.matmul(a, a), sync, max(3, repeat // 4))
            row[f"matmul{n}_GFLOPs"] = 2 * n ** 3 / seconds / 1e9
        rows.append(row)
        print(f"{label:30s} matmul " + "  ".join(
            f"{n}: {row[f'matmul{n}_GFLOPs']:7.1f} GFLOP/s" for n in sizes), flush=True)
    return rows


def _format(row):
    ops = "  ".join(f"{op} {row[f'{op}_ms']:8.3f} ms" for op in OPS)
    return (f"{row['target']:30s} tiny op {row['tiny_op_us']:6.1f} us  "
            f"add {row['add_GBps']:6.2f} GB/s  sum {row['sum_GBps']:6.2f} GB/s\n    {ops}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=lambda s: int(eval(s, {})), default=2 ** 24,
                        help="elements in the large arrays (default 2**24)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default="bench-results.json", help="where to write results")
    parser.add_argument("--matmul", default="256,512,1024",
                        help="square matmul sizes, comma-separated ('' to skip)")
    args = parser.parse_args()
    print(f"pointwise benchmark, {args.size} float32 elements, median of {args.repeat}")
    rows = run(args.size, args.repeat)
    sizes = [int(s) for s in args.matmul.split(",") if s]
    matmul_rows = run_matmul(sizes, args.repeat) if sizes else []
    devices = [d.info().as_dict() for d in registry.all_devices()]
    with open(args.json, "w") as f:
        json.dump({"size": args.size, "repeat": args.repeat, "host": platform.platform(),
                   "cltorch": cltorch.__version__, "devices": devices, "results": rows,
                   "matmul": matmul_rows}, f,
                  indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
