"""What a benchmark run writes: one row per (case, target) with the derived figures, a table on
stdout, the JSON (with the machine), PNG plots, and the comparison of two JSON files."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time

# Peak FP32 FLOP/s and memory bandwidth of devices whose figures are published, by a piece of
# their name: the "% of peak" columns use them.
KNOWN_PEAKS = {"H200": (67e12, 4.8e12), "H100": (67e12, 3.35e12), "A100": (19.5e12, 2.0e12)}


def rows(measured, references) -> list:
    """One dict per measured (case, target): timings, GFLOP/s, GB/s, % of the device's peak,
    and the ratio of its median to each reference's median for the same case (a compiled
    target's also to the same device's eager cltorch)."""
    by_case = {}
    for m in measured:
        by_case.setdefault(m.case.name, []).append(m)
    out = []
    for m in measured:
        row = {"case": m.case.name, "family": m.case.family, "size": m.case.size,
               "target": m.target.name, "kind": m.target.kind, "cold_s": m.cold_s,
               **m.stats()}
        if m.error:
            row["error"] = m.error
        median = row.get("median_s")
        if median:
            if m.case.flops:
                row["gflops"] = m.case.flops / median / 1e9
            if m.case.bytes:
                row["gbps"] = m.case.bytes / median / 1e9
            if m.case.family == "model":
                row["samples_per_s"] = m.case.size / median
            _peak_share(row, references.get(m.target.name))
            row["ratio_to"] = {
                ref.target.name: median / ref.stats()["median_s"]
                for ref in by_case[m.case.name]
                if ref is not m and ref.samples and (ref.target.is_reference or (
                    m.target.compiled and ref.target.kind == "cltorch" and
                    not ref.target.compiled and ref.target.device == m.target.device))}
        out.append(row)
    return out


def _peak_share(row, device_name):
    for key, (flops, bandwidth) in KNOWN_PEAKS.items():
        if device_name and key in device_name:
            if "gflops" in row:
                row["peak_flops_pct"] = 100 * row["gflops"] * 1e9 / flops
            if "gbps" in row:
                row["peak_bandwidth_pct"] = 100 * row["gbps"] * 1e9 / bandwidth


def table(result_rows, stream=None) -> str:
    """A fixed-width table: one line per (case, target)."""
    lines = [f"{'case':40s} {'target':24s} {'median':>10s} {'q1..q3':>19s} {'cold':>9s} "
             f"{'GFLOP/s':>8s} {'GB/s':>7s} {'samples/s':>9s}  vs reference"]
    for r in result_rows:
        if "median_s" not in r:
            lines.append(f"{r['case']:40s} {r['target']:24s} {r.get('error', 'not run')}")
            continue
        ratios = "  ".join(f"{k} x{v:.2f}" for k, v in r.get("ratio_to", {}).items())
        lines.append(
            f"{r['case']:40s} {r['target']:24s} {_ms(r['median_s']):>10s} "
            f"{_ms(r['q1_s']) + '..' + _ms(r['q3_s']):>19s} {_ms(r['cold_s']):>9s} "
            f"{_figure(r, 'gflops', 8, 1)} {_figure(r, 'gbps', 7, 2)} "
            f"{_figure(r, 'samples_per_s', 9, 1)}  {ratios}")
    text = "\n".join(lines)
    if stream is not None:
        print(text, file=stream, flush=True)
    return text


def _figure(row, key, width, digits) -> str:
    return f"{row[key]:{width}.{digits}f}" if key in row else " " * (width - 1) + "-"


def _ms(seconds) -> str:
    return f"{seconds * 1e3:.3f}ms" if seconds >= 1e-4 else f"{seconds * 1e6:.1f}us"


def machine(targets, args) -> dict:
    """Where and with what the figures were measured."""
    from cltorch.backend import registry
    versions = {}
    for name in ("numpy", "torch", "pyopencl", "pyclblast", "cuda"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "installed")
        except ImportError:
            pass
    import cltorch
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
            "platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "cltorch": cltorch.__version__, "git_commit": _git_commit(), "versions": versions,
            "devices": [registry.get(t.device).info().as_dict()
                        for t in targets if t.kind == "cltorch"],
            "threads": os.environ.get("OMP_NUM_THREADS"), "arguments": args}


def _git_commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_json(path, meta, result_rows) -> None:
    with open(path, "w") as f:
        json.dump({"machine": meta, "results": result_rows}, f, indent=1)


def load_json(path) -> dict:
    with open(path) as f:
        return json.load(f)


def compare(old: dict, new: dict) -> list:
    """The (case, target) pairs of both runs: new median / old median, flagged where the move
    is larger than the spread (the new median outside the old run's min..max, and the old
    outside the new's)."""
    before = {(r["case"], r["target"]): r for r in old["results"] if "median_s" in r}
    changes = []
    for r in new["results"]:
        o = before.get((r["case"], r["target"]))
        if o is None or "median_s" not in r:
            continue
        outside = not (o["min_s"] <= r["median_s"] <= o["max_s"]) and \
            not (r["min_s"] <= o["median_s"] <= r["max_s"])
        changes.append({"case": r["case"], "target": r["target"], "old_s": o["median_s"],
                        "new_s": r["median_s"], "ratio": r["median_s"] / o["median_s"],
                        "significant": outside})
    return changes


def compare_table(changes) -> str:
    lines = [f"{'case':40s} {'target':24s} {'old':>10s} {'new':>10s} {'new/old':>8s}"]
    for c in changes:
        flag = ("  faster" if c["ratio"] < 1 else "  SLOWER") if c["significant"] else ""
        lines.append(f"{c['case']:40s} {c['target']:24s} {_ms(c['old_s']):>10s} "
                     f"{_ms(c['new_s']):>10s} {c['ratio']:8.2f}{flag}")
    return "\n".join(lines)
