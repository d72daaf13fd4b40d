"""Cross-backend benchmark: pointwise ops on every available device against NumPy (and PyTorch
on the CPU when it is installed). It measures; it asserts nothing.

    python benchmarks/run.py [--size 2**24] [--repeat 20] [--json bench-results.json]
                             [--matmul 256,512,1024] [--skinny 64x1024x1024,...]

Figures: the host time of one tiny op (dispatch overhead, 1 element, averaged over a burst with
one synchronisation at the end), the effective bandwidth of a large add (3 arrays of float32
moved: 2 reads + 1 write) and of a full sum (1 array read), and the time of pointwise ops,
reductions and a softmax over rows of 1024 on the large size; then GFLOP/s of float32 matmul,
square (n x n @ n x n) and skinny (M x K @ K x N, written MxNxK).
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


def run_matmul(shapes, repeat: int) -> list:
    """GFLOP/s of a float32 matmul (M x K) @ (K x N) per (M, N, K) shape and target."""
    rows = []
    for label, module, make, sync in _targets():
        row = {"target": label}
        for m, n, k in shapes:
            rng = np.random.default_rng(m * n * k)
            a = make(rng.standard_normal((m, k)).astype(np.float32))
            b = make(rng.standard_normal((k, n)).astype(np.float32))
            seconds = _median_time(lambda: module.matmul(a, b), sync, max(3, repeat // 4))
            row[f"matmul{_shape_name(m, n, k)}_GFLOPs"] = 2 * m * n * k / seconds / 1e9
        rows.append(row)
        print(f"{label:30s} matmul " + "  ".join(
            f"{_shape_name(*s)}: {row[f'matmul{_shape_name(*s)}_GFLOPs']:7.1f} GFLOP/s"
            for s in shapes), flush=True)
    return rows


def _shape_name(m, n, k):
    return str(m) if m == n == k else f"{m}x{n}x{k}"


def _int_expr(text: str) -> int:
    """An int written plainly or as a power, e.g. 16777216 or 2**24."""
    base, _, power = text.partition("**")
    return int(base) ** int(power) if power else int(base)


def _format(row):
    ops = "  ".join(f"{op} {row[f'{op}_ms']:8.3f} ms" for op in OPS)
    return (f"{row['target']:30s} tiny op {row['tiny_op_us']:6.1f} us  "
            f"add {row['add_GBps']:6.2f} GB/s  sum {row['sum_GBps']:6.2f} GB/s\n    {ops}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_int_expr, default=2 ** 24,
                        help="elements in the large arrays (default 2**24)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default="bench-results.json", help="where to write results")
    parser.add_argument("--matmul", default="256,512,1024",
                        help="square matmul sizes, comma-separated ('' to skip)")
    parser.add_argument("--skinny", default="64x1024x1024,1024x64x1024,1024x1024x64,1x4096x4096",
                        help="skinny matmul shapes MxNxK, comma-separated ('' to skip)")
    args = parser.parse_args()
    print(f"pointwise benchmark, {args.size} float32 elements, median of {args.repeat}")
    rows = run(args.size, args.repeat)
    shapes = [(int(n),) * 3 for n in args.matmul.split(",") if n]
    shapes += [tuple(int(v) for v in s.split("x")) for s in args.skinny.split(",") if s]
    matmul_rows = run_matmul(shapes, args.repeat) if shapes else []
    devices = [d.info().as_dict() for d in registry.all_devices()]
    with open(args.json, "w") as f:
        json.dump({"size": args.size, "repeat": args.repeat, "host": platform.platform(),
                   "cltorch": cltorch.__version__, "devices": devices, "results": rows,
                   "matmul": matmul_rows}, f,
                  indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
