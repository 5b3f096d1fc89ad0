"""Per-method validation accuracy at one epoch, from per-epoch training logs.

For runs that were stopped before their last epoch (``bench/gpu_session.sh`` deadline):
compares the methods at the last epoch that every run reached (or ``--epoch``), i.e. at an
equal budget on the same schedule. Input: an ``epochs.jsonl`` with one record per run and
epoch (``run`` = ``METHOD_seedS`` plus the trainer's ``log.jsonl`` fields).

    python bench/epoch_table.py bench/results/run2/epochs.jsonl [--epoch 14] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def spread(values: list[float]) -> dict:
    return {"mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values), "all": values}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("epochs_jsonl")
    p.add_argument("--epoch", type=int, help="default: the last epoch every run reached")
    p.add_argument("--json", help="also write the table here")
    a = p.parse_args()
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for line in Path(a.epochs_jsonl).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs[r["run"]][r["epoch"]] = r
    epoch = a.epoch or min(max(h) for h in runs.values())
    methods: dict[str, list[float]] = defaultdict(list)
    for name, hist in sorted(runs.items()):
        if epoch in hist:
            methods[name.rsplit("_seed", 1)[0]].append(hist[epoch]["val_acc"])
    table = {"epoch": epoch, "epochs_reached": {k: max(h) for k, h in sorted(runs.items())},
             "val_acc": {m: spread(v) for m, v in methods.items()}}
    print(f"validation top-1 at epoch {epoch}:")
    for m, s in table["val_acc"].items():
        print(f"  {m:8s} {s['mean']:.2f} ± {s['std']:.2f} (min {s['min']:.2f}, max {s['max']:.2f},"
              f" n={s['n']}) {s['all']}")
    if a.json:
        Path(a.json).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
