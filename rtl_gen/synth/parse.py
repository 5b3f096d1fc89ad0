"""Reading the tools' results: Yosys ``stat -json`` (per module, hierarchy kept) and
nextpnr's ``--report`` JSON and log (utilisation, Fmax, critical path).

Resource classes, per family:

| class | ECP5 cells | iCE40 cells |
| --- | --- | --- |
| ``lut4`` (LUT4 equivalents) | LUT4 + 2 x CCU2C + 2 x TRELLIS_DPR16X4 | SB_LUT4 |
| ``carry`` | CCU2C (two LUT4 and two carry bits each) | SB_CARRY (inside a logic cell) |
| ``ff`` | TRELLIS_FF | SB_DFF* |
| ``bram`` | DP16KD | SB_RAM40_4K (+ SB_SPRAM256KA as ``spram``) |
| ``dsp`` | MULT18X18D (+ ALU54B) | SB_MAC16 |

A CCU2C occupies the two LUT4s of a slice half, so LUT4 equivalents count it twice; nextpnr's
``TRELLIS_COMB`` counts the same, plus what the packer adds (feed-in and feed-out cells of
carry chains), so the device total is higher than the Yosys figure.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from n2uq_hw.errors import fail

CLASSES = ("lut4", "carry", "ff", "bram", "dsp", "lutram", "spram", "mux")


def classify(cell_type: str) -> dict[str, int]:
    """Resource classes one cell of ``cell_type`` uses (empty for submodules/unknown)."""
    t = cell_type
    if t == "LUT4" or t == "SB_LUT4":
        return {"lut4": 1}
    if t == "CCU2C":
        return {"lut4": 2, "carry": 1}
    if t == "SB_CARRY":
        return {"carry": 1}
    if t == "TRELLIS_DPR16X4":
        return {"lut4": 2, "lutram": 1}
    if t in ("PFUMX", "L6MUX21"):
        return {"mux": 1}
    if t == "TRELLIS_FF" or t.startswith("SB_DFF"):
        return {"ff": 1}
    if t in ("DP16KD", "PDPW16KD", "SB_RAM40_4K", "SB_RAM40_4KNR", "SB_RAM40_4KNW",
             "SB_RAM40_4KNRNW"):
        return {"bram": 1}
    if t == "SB_SPRAM256KA":
        return {"spram": 1}
    if t in ("MULT18X18D", "ALU54B", "SB_MAC16"):
        return {"dsp": 1}
    return {}


def _name(n: str) -> str:
    return n.removeprefix("\\")


def module_stats(stat_json: Path | dict) -> dict[str, dict]:
    """module -> {"cells": {type: n}, "sub": {module: n}} from Yosys ``stat -json``."""
    d = json.loads(Path(stat_json).read_text()) if not isinstance(stat_json, dict) else stat_json
    mods = {_name(k): v.get("num_cells_by_type", {}) for k, v in d.get("modules", {}).items()}
    out = {}
    for name, cells in mods.items():
        sub = {_name(t): n for t, n in cells.items() if _name(t) in mods}
        prim = {t: n for t, n in cells.items() if _name(t) not in mods}
        out[name] = {"cells": prim, "sub": sub}
    return out


def totals(mods: dict[str, dict], top: str) -> dict[str, int]:
    """Resource classes of ``top`` with everything below it."""
    memo: dict[str, Counter] = {}

    def walk(m: str) -> Counter:
        if m in memo:
            return memo[m]
        c: Counter = Counter()
        for t, n in mods[m]["cells"].items():
            for k, v in classify(t).items():
                c[k] += v * n
        for s, n in mods[m]["sub"].items():
            for k, v in walk(s).items():
                c[k] += v * n
        memo[m] = c
        return c

    if top not in mods:
        fail(f"module {top} is not in the synthesis statistics")
    c = walk(top)
    return {k: int(c.get(k, 0)) for k in CLASSES}


def hierarchy(mods: dict[str, dict], top: str, depth: int = 3) -> list[dict]:
    """Rows (module, depth, totals) for ``top`` and its submodules down to ``depth``, in
    depth-first order; each row's figures include its own submodules."""
    rows = []

    def walk(m: str, d: int) -> None:
        rows.append({"module": m, "depth": d, **totals(mods, m)})
        if d < depth:
            for s in sorted(mods[m]["sub"]):
                walk(s, d + 1)

    walk(top, 0)
    return rows


def find_module(mods: dict[str, dict], top: str, leaf: str) -> str | None:
    """The module under ``top`` whose last dotted name part is ``leaf`` (Amaranth names a
    submodule ``parent.leaf``), or None."""
    seen, stack = set(), [top]
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        if m.rsplit(".", 1)[-1] == leaf:
            return m
        stack.extend(sorted(mods[m]["sub"], reverse=True))
    return None


# nextpnr's utilisation names -> classes
_PNR = {"TRELLIS_COMB": "lut4", "ICESTORM_LC": "lut4", "TRELLIS_FF": "ff",
        "DP16KD": "bram", "ICESTORM_RAM": "bram", "MULT18X18D": "dsp", "ICESTORM_DSP": "dsp",
        "TRELLIS_IO": "io", "SB_IO": "io", "ICESTORM_SPRAM": "spram"}


_PLACED_FMAX = re.compile(r"Max frequency for clock '([^']+)': ([0-9.]+) MHz \((?:PASS|FAIL) "
                          r"at ([0-9.]+) MHz\)")


def placed_fmax(log_text: str) -> dict:
    """nextpnr's post-placement clock estimate from its log (``--no-route``: the report has
    no clock then): ``{clock: {"achieved": MHz, "constraint": MHz}}``, the last per clock."""
    return {m[1]: {"achieved": float(m[2]), "constraint": float(m[3])}
            for m in _PLACED_FMAX.finditer(log_text)}


def nextpnr_report(report_json: Path, instances: dict[str, str] | None = None,
                   log_text: str | None = None) -> dict:
    """Utilisation (used/available per class), achieved and requested clock, and the
    critical path's end points and its largest contributors. Without a clock in the report
    (placement only) the clock comes from ``log_text``."""
    d = json.loads(Path(report_json).read_text())
    if not d.get("fmax") and log_text:
        d["fmax"] = placed_fmax(log_text)
    util = {}
    for k, v in d.get("utilization", {}).items():
        if k in _PNR:
            util[_PNR[k]] = {"used": int(v["used"]), "available": int(v["available"]),
                             "cell": k}
    fmax = [(k, v) for k, v in d.get("fmax", {}).items()]
    if not fmax:
        fail(f"nextpnr reported no clock in {report_json}")
    clk, f = min(fmax, key=lambda kv: kv[1]["achieved"])
    out = {"utilisation": util, "clock": clk, "fmax_mhz": float(f["achieved"]),
           "requested_mhz": float(f["constraint"])}
    out["critical_path"] = critical_path(d, instances or {})
    return out


def instance_paths(netlist_json: Path, top: str) -> dict[str, str]:
    """Hierarchical instance path (``dut.epi.requant``) -> module name, from Yosys's JSON
    netlist with the hierarchy kept."""
    mods = json.loads(Path(netlist_json).read_text())["modules"]
    out: dict[str, str] = {}

    def walk(mod: str, path: str) -> None:
        for cname, cell in mods[mod].get("cells", {}).items():
            if cell["type"] in mods:
                p = f"{path}.{_name(cname)}" if path else _name(cname)
                out[p] = _name(cell["type"])
                walk(cell["type"], p)

    if top in mods:
        walk(top, "")
    return out


def critical_path(report: dict, instances: dict[str, str]) -> dict | None:
    """The register-to-register critical path of the slowest clock: start and end cell,
    total delay, logic and routing split, and the modules it crosses (from cell names)."""
    best = None
    for cp in report.get("critical_paths", []):
        if "<async>" in (cp.get("from", ""), cp.get("to", "")):
            continue
        delay = sum(p["delay"] for p in cp["path"])
        if best is None or delay > best[0]:
            best = (delay, cp)
    if best is None:
        return None
    delay, cp = best
    steps = cp["path"]
    logic = sum(p["delay"] for p in steps if p["type"] != "routing")
    cells = [p["from"]["cell"] for p in steps] + [steps[-1]["to"]["cell"]]
    return {"delay_ns": round(delay, 3), "logic_ns": round(logic, 3),
            "routing_ns": round(delay - logic, 3), "from": cells[0], "to": cells[-1],
            "steps": len(steps), "modules": _modules(cells, instances)}


def _modules(cells: list[str], instances: dict[str, str]) -> list[str]:
    """The modules a path's cells belong to, in path order (longest instance prefix)."""
    by_len = sorted(instances, key=len, reverse=True)
    out: list[str] = []
    for c in cells:
        mod = next((instances[p] for p in by_len if c.startswith(p + ".")), "(wrapper)")
        if not out or out[-1] != mod:
            out.append(mod)
    return out
