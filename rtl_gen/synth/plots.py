"""The report's figures (PNG, matplotlib with the Agg backend, deterministic metadata):
per-layer cycles and MAC-array utilisation, and the resource breakdown by component."""

from __future__ import annotations

from pathlib import Path

_META = {"Software": None}  # no version string in the PNG: equal inputs, equal bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def layers_png(rep: dict, path: Path, sim: dict | None = None) -> None:
    """Bars: predicted cycles per layer (compute and memory-bound part); line: utilisation
    (predicted, and simulated where known)."""
    plt = _plt()
    rows = rep["layers"]
    xs = list(range(len(rows)))
    comp = [r["compute_cycles"] for r in rows]
    pred = [r["predicted_cycles"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(rows) + 2), 4.0), dpi=100)
    ax.bar(xs, pred, color="#c9d6e8", label="predicted cycles")
    ax.bar(xs, comp, color="#3b6ea8", width=0.5, label="compute cycles")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("cycles")
    ax.set_xticks(xs, [str(r["index"]) for r in rows], fontsize=7)
    ax2 = ax.twinx()
    ax2.plot(xs, [100 * r["utilisation"] for r in rows], "o-", color="#d9822b", ms=3,
             label="utilisation (model)")
    if sim:
        ys = [100 * sim["layers"][r["name"]] if r["name"] in sim["layers"] else float("nan")
              for r in rows]
        ax2.plot(xs, ys, "s--", color="#5b9b3a", ms=3, label="utilisation (simulation)")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("MAC-array utilisation (%)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    ax.set_title(f"{rep['model']}: cycles and utilisation per layer", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata=_META)
    plt.close(fig)


def resources_png(rows: list[dict], target: str, path: Path) -> None:
    """Grouped bars of LUT4 equivalents and flip-flops per component (depth 1 and 2 of the
    hierarchy below the top, each without its children's share)."""
    plt = _plt()
    top = rows[0]
    parts = [r for r in rows if r["depth"] in (1, 2)]
    names, lut, ff = [], [], []
    for r in parts:
        kids = [c for c in parts if c["depth"] == r["depth"] + 1
                and c["module"].startswith(r["module"] + ".")]
        names.append(r["module"].split(".", 1)[-1])
        lut.append(r["lut4"] - sum(c["lut4"] for c in kids))
        ff.append(r["ff"] - sum(c["ff"] for c in kids))
    own_l = top["lut4"] - sum(r["lut4"] for r in parts if r["depth"] == 1)
    own_f = top["ff"] - sum(r["ff"] for r in parts if r["depth"] == 1)
    names.append("(top glue)")
    lut.append(own_l)
    ff.append(own_f)
    ys = list(range(len(names)))
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(names) + 1.5), dpi=100)
    ax.barh([y - 0.2 for y in ys], lut, height=0.4, color="#3b6ea8", label="LUT4 equivalents")
    ax.barh([y + 0.2 for y in ys], ff, height=0.4, color="#d9822b", label="flip-flops")
    ax.set_yticks(ys, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("cells")
    ax.legend(fontsize=7)
    ax.set_title(f"{top['module']} on {target}: resources by component", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata=_META)
    plt.close(fig)
