"""``cltorch bench``: the cross-backend benchmark suite. Ops and model steps on every cltorch
device against references measured in the same run (NumPy, PyTorch on the CPU and on CUDA,
CLBlast), in interleaved rounds, with the spread, cold (first call) and warm figures, a table,
JSON and PNG plots; ``--compare old.json new.json`` shows the change between two runs.
It measures; it asserts nothing.

    cltorch bench [--quick] [--filter TEXT] [--device PREFIX] [--threads N] [--rounds N]
                  [--json FILE] [--plots DIR] [--no-references | --references NAMES]
    cltorch bench --compare old.json new.json [--plots DIR]
    cltorch bench --scaling 1,2,4 [--device cpu] [--threads 1] [--scaling-batch 16]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "POCL_MAX_PTHREAD_COUNT", "POCL_CPU_MAX_CU_COUNT")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cltorch bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 5 rounds (< 2 min)")
    p.add_argument("--filter", default="", help="keep the cases whose name or family "
                                                "contains one of these comma-separated words")
    p.add_argument("--device", default=None, help="cltorch devices to run (name prefixes, "
                                                  "comma-separated); references always run")
    p.add_argument("--threads", type=int, default=None,
                   help="pin every runtime (OpenMP, BLAS, PoCL, PyTorch) to N threads")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (5 quick, 9 full)")
    p.add_argument("--json", default="bench-results.json", help="where to write the results")
    p.add_argument("--plots", default="bench-plots", help="folder for the PNG plots ('' for "
                                                          "none)")
    p.add_argument("--no-references", action="store_true", help="cltorch devices only")
    p.add_argument("--references", default=None,
                   help="keep the references whose name starts with one of these "
                        "comma-separated words (e.g. 'torch cuda,clblast'; default: all)")
    p.add_argument("--no-models", action="store_true", help="ops only")
    p.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                   help="print and plot the change between two result files")
    p.add_argument("--scaling", metavar="RANKS",
                   help="instead of the cases: DistributedDataParallel scaling of the small "
                        "ResNet over these comma-separated rank counts (e.g. 1,2,4), on "
                        "--device (default cpu), each rank --threads threads (default 1)")
    p.add_argument("--scaling-batch", type=int, default=16,
                   help="the global batch of --scaling (split over the ranks)")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.compare:
        return _compare(*args.compare, plots=args.plots)
    if args.scaling:
        return _scaling(args)
    if args.threads and os.environ.get("CLTORCH_BENCH_THREADS") != str(args.threads):
        _reexec_with_threads(args.threads, argv)  # thread pools are sized when they load
    return _run(args)


def _reexec_with_threads(threads: int, argv) -> None:
    for name in THREAD_VARIABLES + ("CLTORCH_BENCH_THREADS",):
        os.environ[name] = str(threads)
    # the same cltorch as this process (a source tree run by benchmarks/run.py, or installed)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    os.execv(sys.executable, [sys.executable, "-m", "cltorch.bench"] + argv)


def _run(args) -> int:
    # a fresh kernel cache: the first call of each case is a true cold start
    os.environ["CLTORCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="cltorch-bench-cache-")
    from . import measure, models, ops, plots, report
    from .targets import discover
    targets = discover(args.device, references=not args.no_references,
                       reference_filter=args.references)
    if args.threads:
        _pin_torch(args.threads)
    cases = ops.cases(args.quick) + ([] if args.no_models else models.cases(args.quick))
    words = [w for w in args.filter.split(",") if w]
    cases = [c for c in cases if not words or any(w in c.name or w == c.family for w in words)]
    rounds = args.rounds or (5 if args.quick else 9)
    print(f"cltorch bench: {len(cases)} cases x {len(targets)} targets "
          f"({', '.join(t.name for t in targets)}), {rounds} interleaved rounds", flush=True)
    measured, machine = [], report.machine(targets, vars(args))
    device_names = {t.name: _device_name(t) for t in targets}
    bar = _progress(len(cases))
    for case in cases:
        pairs = [measure.prepare(case, t) for t in targets]
        measured += measure.interleaved(pairs, rounds)
        # written after every case: a run stopped by a time limit keeps what it measured
        report.write_json(args.json, machine, report.rows(measured, device_names))
        bar.set_postfix_str(case.name)
        bar.update(1)
    bar.close()
    result_rows = report.rows(measured, device_names)
    report.table(result_rows, sys.stdout)
    print(f"wrote {args.json}")
    if args.plots:
        for path in plots.write_all(result_rows, args.plots):
            print(f"wrote {path}")
    return 0


def _pin_torch(threads):
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass


def _device_name(target) -> str:
    if target.kind in ("cltorch", "clblast", "pyopencl"):
        from cltorch.backend import registry
        return registry.get(target.device).info().name
    if target.kind == "torch" and target.device == "cuda":
        return target.lib.cuda.get_device_name()
    return ""


def _progress(total):
    try:
        from tqdm import tqdm
        return tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)
    except ImportError:
        return _NoBar()


class _NoBar:
    def update(self, n):
        pass

    def set_postfix_str(self, text):
        pass

    def close(self):
        pass


def _scaling(args) -> int:
    from . import plots, report, scaling
    ranks = [int(r) for r in args.scaling.split(",")]
    device = args.device or "cpu"
    rows = scaling.run(ranks, device, args.scaling_batch, args.rounds or 3, args.threads or 1)
    scaling.table(rows)
    with open(args.json, "w") as f:
        json.dump({"machine": report.machine([], vars(args)), "scaling": rows}, f, indent=1)
    print(f"wrote {args.json}")
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        print(f"wrote {plots.scaling(rows, os.path.join(args.plots, 'scaling.png'))}")
    return 0


def _compare(old_path, new_path, plots=None) -> int:
    from . import plots as plotting
    from . import report
    changes = report.compare(report.load_json(old_path), report.load_json(new_path))
    print(report.compare_table(changes))
    if plots:
        os.makedirs(plots, exist_ok=True)
        path = plotting.comparison(changes, os.path.join(plots, "comparison.png"))
        if path:
            print(f"wrote {path}")
    return 0
