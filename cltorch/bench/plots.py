"""PNG plots of a run (matplotlib, no display needed): matmul GFLOP/s against size per target,
model step times per target, and each cltorch target's time relative to a reference; and the
new/old ratios of a comparison."""
from __future__ import annotations

import os


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def write_all(result_rows, folder) -> list:
    """Write every plot of a run into ``folder``; their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = [_matmul_scaling(result_rows, os.path.join(folder, "matmul_gflops.png")),
             _model_steps(result_rows, os.path.join(folder, "model_steps.png")),
             _ratios(result_rows, os.path.join(folder, "ratio_to_reference.png"))]
    return [p for p in paths if p]


def _targets(result_rows):
    return list(dict.fromkeys(r["target"] for r in result_rows))


def _matmul_scaling(result_rows, path):
    square = [r for r in result_rows if r["family"] == "matmul" and "gflops" in r
              and r["case"].split()[-1].isdigit()]
    if not square:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for target in _targets(square):
        points = sorted((r["size"], r["gflops"]) for r in square if r["target"] == target)
        ax.plot(*zip(*points), marker="o", label=target)
    ax.set(xscale="log", yscale="log", xlabel="n (n x n @ n x n, float32)", ylabel="GFLOP/s",
           title="Square matmul")
    sizes = sorted({r["size"] for r in square})
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(_pyplot().NullLocator())
    ax.legend(fontsize=8)
    return _save(fig, path)


def _model_steps(result_rows, path):
    models = [r for r in result_rows if r["family"] == "model" and "median_s" in r]
    if not models:
        return None
    plt = _pyplot()
    cases, targets = list(dict.fromkeys(r["case"] for r in models)), _targets(models)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(cases) * len(targets) + 1.5))
    height = 0.8 / len(targets)
    for i, target in enumerate(targets):
        times = {r["case"]: r["median_s"] * 1e3 for r in models if r["target"] == target}
        ys = [c + i * height for c in range(len(cases))]
        ax.barh(ys, [times.get(c, 0) for c in cases], height, label=target)
    ax.set_yticks([c + 0.4 - height / 2 for c in range(len(cases))], cases, fontsize=8)
    ax.set(xscale="log", xlabel="ms per step (median)", title="Model steps")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    return _save(fig, path)


def _ratios(result_rows, path):
    with_ratio = [r for r in result_rows if r["kind"] == "cltorch" and r.get("ratio_to")]
    if not with_ratio:
        return None
    reference = "torch cpu" if any("torch cpu" in r["ratio_to"] for r in with_ratio) else \
        next(iter(with_ratio[0]["ratio_to"]))
    bars = [(f"{r['case']} | {r['target'][8:]}", r["ratio_to"][reference])
            for r in with_ratio if reference in r["ratio_to"]]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(bars) + 1.5))
    ax.barh(range(len(bars)), [v for _, v in bars],
            color=["tab:green" if v <= 1 else "tab:red" for _, v in bars])
    ax.set_yticks(range(len(bars)), [k for k, _ in bars], fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set(xscale="log", xlabel=f"time relative to {reference} (below 1: faster)",
           title=f"cltorch against {reference}")
    ax.invert_yaxis()
    return _save(fig, path)


def scaling(rows, path):
    """Samples/s against ranks (cltorch bench --scaling), the ideal line from one rank, and
    each point's communication share."""
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ranks = [r["ranks"] for r in rows]
    ax.plot(ranks, [r["samples_per_s"] for r in rows], marker="o", label="measured")
    one = rows[0]["samples_per_s"] / rows[0]["ranks"]
    ax.plot(ranks, [one * n for n in ranks], linestyle="--", color="gray", label="linear")
    for r in rows:
        ax.annotate(f"comm {r['comm_share']:.0%}", (r["ranks"], r["samples_per_s"]),
                    textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set(xlabel="ranks (processes)", ylabel="samples/s", xticks=ranks,
           title=f"ResNet-18 32px, DDP, global batch {rows[0]['global_batch']}, "
                 f"{rows[0]['device']}")
    ax.legend(fontsize=8)
    return _save(fig, path)


def comparison(changes, path):
    """Bars of new/old per (case, target); the moves beyond the spread are coloured."""
    if not changes:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(changes) + 1.5))
    colours = ["tab:gray" if not c["significant"] else
               "tab:green" if c["ratio"] < 1 else "tab:red" for c in changes]
    ax.barh(range(len(changes)), [c["ratio"] for c in changes], color=colours)
    ax.set_yticks(range(len(changes)), [f"{c['case']} | {c['target']}" for c in changes],
                  fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set(xscale="log", xlabel="new / old time (coloured: beyond the measured spread)",
           title="Change between two runs")
    ax.invert_yaxis()
    return _save(fig, path)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path
