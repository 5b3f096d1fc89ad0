"""Calibrate the resource estimate (rtl_gen/synth/estimate.py) from Yosys runs of the
engine's components, two lanes each, at the datapath widths of real builds.

    python bench/synth_calibrate.py --json bench/results/synth_calibration.json

For each family (ECP5 with hard multipliers, ECP5 without, iCE40) and width set it
synthesizes MacArray, Accumulator, RequantUnit, AddUnit, RPReLUUnit, ThresholdUnit and the
Epilogue, and divides each one's LUT4 equivalents and flip-flops by the structural measure
the estimate uses (per lane x bits, per MAC, ...). The coefficients in estimate.COEF are the
means over the width sets, rounded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from amaranth.back import verilog

from rtl_gen.hw.accumulator import Accumulator
from rtl_gen.hw.add_unit import AddUnit
from rtl_gen.hw.epilogue import Epilogue
from rtl_gen.hw.mac_array import MacArray
from rtl_gen.hw.requant_unit import RequantUnit
from rtl_gen.hw.rprelu_unit import RPReLUUnit
from rtl_gen.hw.threshold_unit import ThresholdUnit
from rtl_gen.synth import parse, runner

# datapath widths of real builds (report.json "widths"): resnet18_w2a2 and smallcnn_w2a2
WIDTHS = {
    "resnet18_w2a2": {"acc": 41, "ow": 8, "fixed": 22, "mult": 16, "bias": 39, "param": 14,
                      "code": 2, "two_sided": 0},
    "smallcnn_w2a2": {"acc": 37, "ow": 8, "fixed": 22, "mult": 16, "bias": 40, "param": 14,
                      "code": 2, "two_sided": 0},
}
LANES = 2
FLOWS = {"ecp5": ("synth_ecp5", "-nowidelut"), "ecp5-nodsp": ("synth_ecp5", "-nowidelut -nodsp"),
         "ice40": ("synth_ice40", "-device u")}


def components(w: dict, cells: str = "") -> dict:
    """The calibrated components; ``cells``: the MAC array's device cells (as a build for
    the family makes it, rtl_gen/compile/descriptor.py ``device_cells``)."""
    vb = max(w["acc"], w["fixed"])
    return {
        "mac_4x8": MacArray(4, 8, 2, 2, cells=cells),
        "mac_8x16": MacArray(8, 16, 2, 2, cells=cells),
        "accu": Accumulator(LANES, 7, 5, w["ow"], w["acc"]),
        "requant": RequantUnit(LANES, w["acc"], w["mult"], w["bias"], w["fixed"]),
        "add": AddUnit(LANES, w["fixed"], w["fixed"], w["fixed"]),
        "rprelu": RPReLUUnit(LANES, w["fixed"], w["param"], w["fixed"]),
        "thr": ThresholdUnit(LANES, vb, w["code"], bool(w["two_sided"])),
        "epi": Epilogue(LANES, w["acc"], w["fixed"], w["mult"], w["bias"], w["param"],
                        w["code"], bool(w["two_sided"])),
    }


def measures(name: str, w: dict) -> float:
    """The estimate's structural measure of component ``name`` (estimate.estimate)."""
    acc, fx = w["acc"], w["fixed"]
    return {
        "accu": LANES * w["acc"], "requant": LANES * (max(acc + w["mult"], w["bias"]) + 1),
        "add": LANES * fx, "rprelu": LANES * (max(fx, w["param"]) + 1),
        "thr": LANES * (2 ** w["code"] - 1) * (2 if w["two_sided"] else 1) * (max(acc, fx) + 1),
        "epi": LANES * (acc + fx),
    }[name]


def synth(flow: str, comp, work: Path) -> dict:
    cmd, opts = FLOWS[flow]
    (work / "c.v").write_text(verilog.convert(comp, name="c", emit_src=False))
    script = (f"read_verilog c.v; {cmd} {opts} -top c -run :map_luts; splitnets; "
              f"{cmd} {opts} -top c -run map_luts:; tee -q -o stat.json stat -json")
    runner.run_yosys(script, work)
    mods = parse.module_stats(work / "stat.json")
    return parse.totals(mods, "c")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json")
    p.add_argument("--flows", default=",".join(FLOWS))
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix=".calib.") as d:
        work = Path(d)
        for flow in a.flows.split(","):
            for wname, w in WIDTHS.items():
                comps = components(w, "ecp5" if flow.startswith("ecp5") else "")
                got = {}
                for cname, comp in comps.items():
                    if cname.startswith("mac") and wname != "resnet18_w2a2":
                        continue
                    t0 = time.perf_counter()
                    got[cname] = synth(flow, comp, work)
                    print(f"{flow:10s} {wname:14s} {cname:9s} {got[cname]['lut4']:6d} LUT4 "
                          f"{got[cname]['ff']:6d} FF {got[cname]['dsp']:3d} DSP "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)
                    rows.append({"flow": flow, "widths": wname, "component": cname,
                                 **got[cname]})
                epi_units = sum(got[k]["lut4"] for k in ("requant", "add", "rprelu")) + \
                    2 * got["thr"]["lut4"]
                epi_ff = sum(got[k]["ff"] for k in ("requant", "add", "rprelu")) + \
                    2 * got["thr"]["ff"]
                rows.append({"flow": flow, "widths": wname, "component": "epi_own",
                             "lut4": got["epi"]["lut4"] - epi_units,
                             "ff": got["epi"]["ff"] - epi_ff})
    coef: dict = {}
    for flow in FLOWS:
        fr = [r for r in rows if r["flow"] == flow]
        if not fr:
            continue
        c = {}
        m4 = next(r for r in fr if r["component"] == "mac_4x8")
        m8 = next(r for r in fr if r["component"] == "mac_8x16")
        # lut = k * pe * simd + x * simd: two sizes, two unknowns
        for key in ("lut4", "ff"):
            k = (m8[key] - 2 * m4[key]) / (8 * 16 - 2 * 32)
            x = (m4[key] - 32 * k) / 8
            c.setdefault("mac", []).append(round(k, 2))
            c.setdefault("xsum", []).append(round(x, 2))
        for name in ("accu", "requant", "add", "rprelu", "thr", "epi_own"):
            vals = {"lut4": [], "ff": []}
            for r in (r for r in fr if r["component"] == name):
                meas = measures("epi" if name == "epi_own" else name, WIDTHS[r["widths"]])
                for key, vs in vals.items():
                    vs.append(r[key] / meas)
            c[name] = [round(sum(v) / len(v), 2) for v in vals.values()]
        coef[flow] = c
        print(flow, json.dumps(c))
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "coefficients": coef}, indent=1) + "\n")


if __name__ == "__main__":
    main()
