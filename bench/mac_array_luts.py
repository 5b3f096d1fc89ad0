"""LUT4 per MAC of the W2A2 MAC array alone, generic and on ECP5 carry cells (Yosys).

    python bench/mac_array_luts.py --json bench/results/mac_array_luts.json

Synthesizes ``MacArray(pe, simd)`` with ``synth_ecp5 -nowidelut`` (the flow of
``python -m rtl_gen synth``) for each shape and both cell choices, and prints LUT4
equivalents (LUT4 + 2 x CCU2C), flip-flops and LUT4 per MAC: the array with its adder trees,
the shared ``xsum`` tree and its operand registers, which is what ``synth`` reports as
``lut4_per_mac`` for the engine's ``*.mac`` module.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from amaranth.back import verilog

from rtl_gen.hw.mac_array import MacArray
from rtl_gen.synth import parse, runner

SHAPES = ((4, 8), (16, 32), (32, 32))


def synth(comp, work: Path) -> dict:
    (work / "c.v").write_text(verilog.convert(comp, name="c", emit_src=False))
    flow = "synth_ecp5 -nowidelut -top c"
    runner.run_yosys(f"read_verilog c.v; {flow} -run :map_luts; splitnets; "
                     f"{flow} -run map_luts:; tee -q -o stat.json stat -json", work)
    return parse.totals(parse.module_stats(work / "stat.json"), "c")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix=".macluts.") as d:
        for pe, simd in SHAPES:
            for cells in ("", "ecp5"):
                t0 = time.perf_counter()
                got = synth(MacArray(pe, simd, cells=cells), Path(d))
                row = {"pe": pe, "simd": simd, "cells": cells or "generic",
                       "lut4": got["lut4"], "carry": got["carry"], "ff": got["ff"],
                       "lut4_per_mac": round(got["lut4"] / (pe * simd), 2)}
                rows.append(row)
                print(f"{pe:3d} x {simd:3d} {row['cells']:8s} {row['lut4']:6d} LUT4 "
                      f"({row['carry']} CCU2C) {row['ff']:6d} FF  {row['lut4_per_mac']:5.2f} "
                      f"LUT4/MAC ({time.perf_counter() - t0:.0f} s)", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
