"""Where a build's engine loses its clock, in minutes instead of a place-and-route hour.

Synthesizes the build's engine for an ECP5 with Yosys (the `rtl_gen synth` script,
flattened below the engine so every path is visible) and runs a static timing estimate over
the mapped netlist with a fixed delay model (one net per LUT input, carry chains at their
intra-slice speed, hard multipliers and RAM reads at their data-sheet-like delays; constants
below, calibrated against nextpnr's routed critical path of the 4 x 8 engine, see
docs/BENCHMARKS.md "Fmax"). It prints, per (start component, end component) pair, the
worst estimated register-to-register delay, how many endpoints miss the requested period,
and the worst path's components in order. Placement can make real paths longer (distance)
or shorter; use it to find and rank the deep logic, and nextpnr to confirm.

    python bench/timing_paths.py build/diag_small --clock 150 [--netlist N.json] [--top 25]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# delay model (ns): ECP5-85K speed grade 6, nextpnr 0.11 figures seen in routed reports
NET = 0.9  # a routed net between two slices
FANOUT = 0.25  # extra per doubling of a net's fanout beyond 4
LUT = 0.45
CARRY_IN = 0.45  # an input of a CCU2C to its sum or carry out
CARRY_STEP = 0.07  # carry in -> carry out / sum, the next slice in the chain
CLK_Q = 0.5
SETUP = 0.1
DSP = 3.9  # MULT18X18D without internal registers
LUTRAM = 1.2  # DPR16X4 read address -> data
BRAM_CLK_Q = 2.6

SEQ = {"TRELLIS_FF", "DP16KD", "TRELLIS_IO"}


def run_yosys(build: Path, work: Path) -> Path:
    from rtl_gen.synth import runner
    from rtl_gen.synth.cli import pick_top
    from rtl_gen.synth.targets import target
    from rtl_gen.synth.wrapper import module_ports, plan, wrapper_verilog

    t = target("ecp5-85k")
    top, vfile = pick_top(build / "rtl", None)
    sources = sorted((build / "rtl").glob("*.v"))
    for f in sources:
        shutil.copyfile(f, work / f.name)
    ports = module_ports(vfile.read_text(), top)
    (work / "wrapper.v").write_text(wrapper_verilog(top, ports, plan(ports, t.ff)))
    script = runner.yosys_script(t, [f.name for f in sources] + ["wrapper.v"], top,
                                 flatten=True)
    runner.run_yosys(script, work, None)
    from rtl_gen.synth.dsp_regs import absorb_file

    absorb_file(work / "netlist.json")  # as `rtl_gen synth` does before nextpnr
    return work / "netlist.json"


def analyse(netlist: Path, period: float, top_n: int) -> list[dict]:
    nl = json.loads(netlist.read_text())
    mods = nl["modules"]
    name = next(n for n in mods if n != "synth_wrapper" and "engine" in n.lower()) \
        if "engine" in mods else next(n for n in mods if n != "synth_wrapper")
    mod = mods[name]
    cells = mod["cells"]
    # bit -> driver (cell, port), bit -> sinks
    driver: dict[int, tuple[str, str]] = {}
    sinks: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for cn, c in cells.items():
        for p, bits in c["connections"].items():
            d = c["port_directions"].get(p, "input")
            for b in bits:
                if not isinstance(b, int):
                    continue
                if d == "output":
                    driver[b] = (cn, p)
                else:
                    sinks[b].append((cn, p))
    netname = {}
    for nn, n in mod["netnames"].items():
        if n.get("hide_name"):
            continue
        for b in n["bits"]:
            if isinstance(b, int):
                netname.setdefault(b, nn)

    def net_delay(b: int) -> float:
        f = len(sinks.get(b, ()))
        return NET + (FANOUT * math.log2(f / 4) if f > 4 else 0.0)

    def seq_start(c: dict, p: str) -> bool:
        t = c["type"]
        if t in SEQ:
            return True
        if t == "MULT18X18D":
            return c["parameters"].get("REG_OUTPUT_CLK", "NONE") not in ("NONE", "\"NONE\"")
        return False

    order_cache: dict[int, tuple[float, int | None, str]] = {}  # bit -> (t, prev bit, cell)
    sys.setrecursionlimit(100000)

    def arr(b: int) -> tuple[float, int | None, str]:
        if b in order_cache:
            return order_cache[b]
        order_cache[b] = (0.0, None, "?")  # loop guard
        drv = driver.get(b)
        if drv is None:  # module input or constant
            res = (0.0, None, "<in>")
        else:
            cn, p = drv
            c = cells[cn]
            t = c["type"]
            if t == "TRELLIS_FF":
                res = (CLK_Q, None, cn)
            elif t == "DP16KD":
                res = (BRAM_CLK_Q, None, cn)
            elif t == "MULT18X18D" and seq_start(c, p):
                res = (CLK_Q + 0.5, None, cn)
            else:
                conns = c["connections"]
                dirs = c["port_directions"]
                if t == "CCU2C":
                    ins = []
                    for ip, bits in conns.items():
                        if dirs.get(ip) != "input":
                            continue
                        for ib in bits:
                            if not isinstance(ib, int):
                                continue
                            if ip == "CIN":
                                ta, _, _ = arr(ib)
                                ins.append((ta + CARRY_STEP, ib))
                            else:
                                ta, _, _ = arr(ib)
                                ins.append((ta + net_delay(ib) + CARRY_IN, ib))
                elif t == "TRELLIS_DPR16X4":
                    ins = [(arr(ib)[0] + net_delay(ib) + LUTRAM, ib)
                           for ip in ("RAD",) for ib in conns.get(ip, []) if isinstance(ib, int)]
                elif t in ("MULT18X18D", "ALU54B"):
                    ins = [(arr(ib)[0] + net_delay(ib) + DSP, ib)
                           for ip, bits in conns.items() if dirs.get(ip) == "input"
                           and ip[0] in "AB" and ip[:3] not in ("CLK", "CE", "RST")
                           for ib in bits if isinstance(ib, int)]
                else:  # LUT4 and anything combinational
                    ins = [(arr(ib)[0] + net_delay(ib) + LUT, ib)
                           for ip, bits in conns.items() if dirs.get(ip) == "input"
                           for ib in bits if isinstance(ib, int)]
                if ins:
                    tmax, bprev = max(ins)
                    res = (tmax, bprev, cn)
                else:
                    res = (0.0, None, cn)
        order_cache[b] = res
        return res

    def module_of(cn: str) -> str:
        parts = cn.lstrip("\\").split(".")
        parts = [p for p in parts[:-1] if not p.startswith("$")]
        return ".".join(parts) or "(engine)"

    def path_of(b: int) -> list[str]:
        out = []
        while b is not None:
            _t, prev, cn = arr(b)
            out.append(cn)
            b = prev
        return out[::-1]

    ends = []
    for cn, c in cells.items():
        t = c["type"]
        if t not in ("TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D"):
            continue
        if t == "MULT18X18D" and not any(
                c["parameters"].get(k, "NONE") not in ("NONE", "\"NONE\"")
                for k in ("REG_INPUTA_CLK", "REG_INPUTB_CLK")):
            continue
        data_ports = {"TRELLIS_FF": ("DI", "CE", "LSR", "M"), "DP16KD": None,
                      "TRELLIS_DPR16X4": ("DI", "WAD", "WRE"), "MULT18X18D": None}[t]
        worst = None
        for p, bits in c["connections"].items():
            if c["port_directions"].get(p) != "input" or p in ("CLK", "CLKA", "CLKB", "WCK"):
                continue
            if data_ports is not None and p not in data_ports:
                continue
            for b in bits:
                if not isinstance(b, int):
                    continue
                ta = arr(b)[0] + net_delay(b) + SETUP
                if worst is None or ta > worst[0]:
                    worst = (ta, b)
        if worst:
            ends.append((worst[0], worst[1], cn))
    groups: dict[tuple[str, str], dict] = {}
    for ta, b, cn in ends:
        path = path_of(b)
        start = module_of(path[0]) if path else "?"
        key = (start, module_of(cn))
        g = groups.setdefault(key, {"worst": 0.0, "failing": 0, "path": None, "end": cn})
        if ta > period:
            g["failing"] += 1
        if ta > g["worst"]:
            g.update(worst=ta, end=cn, path=path)
    ranked = sorted(groups.items(), key=lambda kv: -kv[1]["worst"])[:top_n]
    out = []
    for (s, e), g in ranked:
        mods_in = []
        for cn in g["path"] or []:
            mname = module_of(cn)
            if not mods_in or mods_in[-1][0] != mname:
                mods_in.append([mname, 0])
            mods_in[-1][1] += 1
        out.append({"start": s, "end": e, "delay_ns": round(g["worst"], 2),
                    "failing": g["failing"], "levels": len(g["path"] or []),
                    "through": [f"{mn} ({k})" for mn, k in mods_in],
                    "cells": [f"{cells[cn]['type']} {cn}" for cn in g["path"] or []
                              if cn in cells],
                    "end_cell": g["end"]})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", type=Path)
    ap.add_argument("--clock", type=float, default=150.0)
    ap.add_argument("--netlist", type=Path, help="reuse a flattened Yosys netlist.json")
    ap.add_argument("--keep", type=Path, help="copy the netlist here for reuse")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="list each worst path's cells")
    a = ap.parse_args()
    period = 1e3 / a.clock
    if a.netlist:
        nl = a.netlist
        res = analyse(nl, period, a.top)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            nl = run_yosys(a.build, Path(tmp))
            if a.keep:
                shutil.copyfile(nl, a.keep)
            res = analyse(nl, period, a.top)
    worst = res[0]["delay_ns"] if res else 0.0
    print(f"estimated Fmax {1e3 / worst:.1f} MHz (worst {worst:.2f} ns; period "
          f"{period:.2f} ns)")
    for r in res:
        print(f"{r['delay_ns']:6.2f} ns  {r['failing']:5d} failing  {r['levels']:3d} cells  "
              f"{r['start']} -> {r['end']}")
        print("           via " + " > ".join(r["through"]))
        if a.verbose:
            for c in r["cells"]:
                print("             " + c)
            print("             -> " + r["end_cell"])
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
