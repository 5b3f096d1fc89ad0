"""Figures derived from a synthesis result and the build report: LUT4 per MAC, frames per
second at the achieved clock, MAC-array utilisation (predicted, and simulated where a
simulation result exists).

Frames per second, three ways (per layer, summed over the network; ``F`` the achieved Fmax):

- ``compute_bound``: the array never waits for memory, ``F / sum(compute + overhead)``;
- ``port_bound``: the build's performance model, one ``mem_bits`` word per cycle at ``F``,
  ``F / sum(max(compute, memory) + overhead)``;
- ``at_bandwidth``: memory traffic at a stated external bandwidth ``B`` bytes/s instead,
  per layer ``max(compute / F, bytes / B) + overhead / F``.

``overhead`` is the model's pipeline fill and setup (``predicted - max(compute, memory)``).
"""

from __future__ import annotations

import json
from pathlib import Path

#: Default external memory bandwidth per family (GB/s) and what it stands for.
MEMORY = {
    "ecp5": (1.6, "x16 DDR3-800 (ECP5 DDR3 rate 400 MHz, 2 bytes x 800 MT/s), peak"),
    "ice40": (0.1, "x16 SDR SDRAM at 50 MHz, peak"),
}


def fps(rep: dict, fmax_mhz: float, mem_gbps: float) -> dict:
    """Frames per second and cycles per frame of the build ``rep`` at ``fmax_mhz``."""
    mem_bits = rep["engine"]["mem_bits"]
    f = fmax_mhz * 1e6
    compute = port = 0
    at_bw = 0.0
    for r in rep["layers"]:
        over = r["predicted_cycles"] - max(r["compute_cycles"], r["memory_cycles"])
        compute += r["compute_cycles"] + over
        port += r["predicted_cycles"]
        mem_s = r["memory_cycles"] * mem_bits / 8 / (mem_gbps * 1e9)
        at_bw += max(r["compute_cycles"] / f, mem_s) + over / f
    return {"fmax_mhz": fmax_mhz, "mem_gbps": mem_gbps,
            "compute_bound": {"cycles": compute, "fps": f / compute},
            "port_bound": {"cycles": port, "fps": f / port,
                           "port_gbps": mem_bits / 8 * f / 1e9},
            "at_bandwidth": {"seconds": at_bw, "fps": 1 / at_bw}}


def sim_utilisation(build: Path, rep: dict) -> dict | None:
    """MAC-array utilisation from simulated cycles (ideal / simulated, per layer and over the
    simulated layers) when ``python -m rtl_gen sim`` has left ``sim/result/result.json`` in
    the build."""
    path = build / "sim" / "result" / "result.json"
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    sim = {int(la["index"]): int(la["cycles"]) for la in d.get("layers", [])}
    per, ideal, total = {}, 0.0, 0
    for r in rep["layers"]:
        c = sim.get(int(r["index"]))
        if c is None:
            continue
        per[r["name"]] = r["ideal_cycles"] / c if c else 0.0
        ideal += r["ideal_cycles"]
        total += c
    if not per:
        return None
    return {"source": str(path.relative_to(build)), "layers": per, "cycles": total,
            "utilisation": ideal / total if total else 0.0,
            "mismatches": d.get("mismatches"), "input": d.get("input")}


def lut_per_mac(mac_lut4: int, pe: int, simd: int) -> float:
    return mac_lut4 / (pe * simd)
