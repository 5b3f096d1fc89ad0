"""Place and route with several placer seeds at once, keeping the fastest (docs/SYNTH.md).

nextpnr's seed alone moved one netlist of the 4 x 8 engine between 72 and 96 MHz
(docs/BENCHMARKS.md "Fmax, session 12"), so one route is a sample. ``synth --seeds K`` runs
seeds ``seed .. seed + K - 1`` side by side, each in a folder of its own (nextpnr writes
its report and log beside the netlist), keeps the fastest route's report and log as the
run's, and lists every seed's Fmax in the result, so the figure is never a hidden best.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from n2uq_hw.errors import fail

#: the files nextpnr reads from its folder
INPUTS = ("netlist.json",)


def seed_list(seed: int, count: int) -> list[int]:
    """Seeds ``seed .. seed + count - 1``; one clear error for a count below 1."""
    if count < 1:
        fail(f"--seeds must be at least 1, not {count}")
    return list(range(seed, seed + count))


def run_seeds(work: Path, seeds: list[int], route: Callable[[Path, int], str],
              fmax: Callable[[Path, str], float], jobs: int | None = None
              ) -> tuple[int, str, dict[int, float]]:
    """Run ``route(folder, seed)`` (returns nextpnr's log) for each seed, ``jobs`` at a
    time (default: the machine's cores), each in ``work/seedN`` with copies of the inputs;
    ``fmax(folder, log)`` reads a finished route's Fmax. The fastest route's
    ``nextpnr.json`` and ``nextpnr.log`` become ``work``'s (ties: the lower seed); each
    seed's folder keeps its own report and log. Returns (its seed, its log, Fmax by seed).
    One seed runs in ``work`` itself."""
    if len(seeds) == 1:
        log = route(work, seeds[0])
        return seeds[0], log, {seeds[0]: fmax(work, log)}
    folders = {}
    for s in seeds:
        d = work / f"seed{s}"
        d.mkdir()
        for name in INPUTS:
            if (work / name).is_file():
                shutil.copyfile(work / name, d / name)
        folders[s] = d
    workers = max(1, min(len(seeds), jobs or os.cpu_count() or 1))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            logs = dict(zip(seeds, pool.map(lambda s: route(folders[s], s), seeds)))
    finally:
        for d in folders.values():
            for name in INPUTS:
                (d / name).unlink(missing_ok=True)
    speeds = {s: fmax(folders[s], logs[s]) for s in seeds}
    best = max(seeds, key=lambda s: (speeds[s], -s))
    for name in ("nextpnr.json", "nextpnr.log"):
        shutil.copyfile(folders[best] / name, work / name)
    return best, logs[best], speeds
