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


def seed_list(seed: int, count: int) -> list[int]:
    """Seeds ``seed .. seed + count - 1``; one clear error for a count below 1."""
    if count < 1:
        fail(f"--seeds must be at least 1, not {count}")
    return list(range(seed, seed + count))


def run_seeds(work: Path, seeds: list[int], route: Callable[[Path, int], str],
              measure: Callable[[Path, str], dict], jobs: int | None = None
              ) -> tuple[int, dict[int, dict]]:
    """Run ``route(folder, seed)`` (returns nextpnr's log) for each seed, ``jobs`` at a
    time (default: the machine's cores), each in ``work/seedN`` with a copy of
    ``netlist.json``; ``measure(folder, log)`` reads a finished route's report (a dict
    with ``fmax_mhz``). The fastest route's ``nextpnr.json`` and ``nextpnr.log`` become
    ``work``'s (ties: the lower seed); each seed's folder keeps its own report and log.
    Returns (its seed, the reports by seed). One seed runs in ``work`` itself."""
    if len(seeds) == 1:
        return seeds[0], {seeds[0]: measure(work, route(work, seeds[0]))}
    folders = {}
    for s in seeds:
        folders[s] = work / f"seed{s}"
        folders[s].mkdir()
        shutil.copyfile(work / "netlist.json", folders[s] / "netlist.json")
    workers = max(1, min(len(seeds), jobs or os.cpu_count() or 1))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            logs = dict(zip(seeds, pool.map(lambda s: route(folders[s], s), seeds)))
    finally:
        for d in folders.values():
            (d / "netlist.json").unlink(missing_ok=True)
    reports = {s: measure(folders[s], logs[s]) for s in seeds}
    best = max(seeds, key=lambda s: (reports[s]["fmax_mhz"], -s))
    for name in ("nextpnr.json", "nextpnr.log"):
        shutil.copyfile(folders[best] / name, work / name)
    return best, reports
