"""Move flip-flops into the registers of ECP5 hard multipliers (a netlist pass between Yosys
and nextpnr).

Yosys 0.70 maps every product to a MULT18X18D with its input and output registers bypassed;
such a multiplier is 3.9 ns from input to output in nextpnr's timing model, and with the
routing to and from the fabric flip-flops around it a register-to-register multiply takes
about 7 ns: no clock of 150 MHz can hold one. The epilogue units register every product's
operands and its result (rtl_gen/hw/pipelined.py), so this pass moves those flip-flops into
the multiplier (``REG_INPUTA/B`` and ``REG_OUTPUT``), which is the same circuit:

- input A (B): every non-constant bit is the Q of a TRELLIS_FF of one clock, one clock
  enable and one synchronous reset (reset value 0); the multiplier's register takes the
  flip-flops' D inputs, and the flip-flops stay for any other loads they have;
- output P: every bit that is used drives only the D input of such a flip-flop; the
  flip-flops are removed and their Q nets driven by the multiplier.

A multiplier whose neighbours do not match is left alone. Amaranth's flip-flops reset
synchronously to 0, as the multiplier's registers with ``RESETMODE = "SYNC"`` do.
"""

from __future__ import annotations

import json
from pathlib import Path

_FF_OK = {"CLKMUX": "CLK", "REGSET": "RESET", "GSR": "DISABLED"}


def _s(v) -> str:
    return v.strip() if isinstance(v, str) else str(v)


def _ctrl(ff: dict) -> tuple | None:
    """(clk, ce, lsr) nets of a flip-flop the multiplier's registers can replace."""
    p = {k: _s(v) for k, v in ff.get("parameters", {}).items()}
    if any(p.get(k, want) != want for k, want in _FF_OK.items()):
        return None
    if p.get("SRMODE", "LSR_OVER_CE") != "LSR_OVER_CE" or p.get("LSRMUX", "LSR") != "LSR":
        return None
    c = ff["connections"]
    ce = c.get("CE", ["1"])[0] if p.get("CEMUX", "1") == "CE" else "1"
    if p.get("CEMUX", "1") not in ("1", "CE"):
        return None
    if "M" in c and c["M"] and c["M"][0] not in ("0", "x"):
        return None
    return c["CLK"][0], ce, c.get("LSR", ["0"])[0]


def absorb(netlist: dict) -> int:
    """Absorb registers into every MULT18X18D that allows it; returns how many changed."""
    changed = 0
    for mod in netlist["modules"].values():
        cells = mod.get("cells", {})
        dsps = [n for n, c in cells.items() if c["type"] == "MULT18X18D"]
        if not dsps:
            continue
        driver: dict = {}
        loads: dict = {}
        for name, c in cells.items():
            dirs = c.get("port_directions", {})
            for port, bits in c["connections"].items():
                for b in bits:
                    if isinstance(b, str):
                        continue
                    if dirs.get(port) == "output":
                        driver[b] = (name, port)
                    else:
                        loads.setdefault(b, []).append((name, port))
        for pname, p in mod.get("ports", {}).items():
            for b in p["bits"]:
                if isinstance(b, str):
                    continue
                if p["direction"] == "input":
                    driver[b] = ("$port", pname)
                else:
                    loads.setdefault(b, []).append(("$port", pname))
        freed: set[str] = set()
        for dn in dsps:
            if _absorb_one(cells, dn, driver, loads, freed):
                changed += 1
        # input flip-flops whose every load was absorbed go
        used = {b for c in cells.values() for port, bits in c["connections"].items()
                if c.get("port_directions", {}).get(port) != "output" for b in bits}
        used |= {b for p in mod.get("ports", {}).values() if p["direction"] != "input"
                 for b in p["bits"]}
        for ff in freed:
            if ff in cells and cells[ff]["connections"]["Q"][0] not in used:
                del cells[ff]
    return changed


def _absorb_one(cells: dict, dn: str, driver: dict, loads: dict, freed: set) -> bool:
    dsp = cells[dn]
    conn = dsp["connections"]
    plan_in = {}
    for side in ("A", "B"):
        ffs, ctrl = {}, None
        for i in range(18):
            b = conn.get(f"{side}{i}", ["0"])[0]
            if isinstance(b, str):
                continue
            src = driver.get(b)
            if src is None or src[1] != "Q" or cells[src[0]]["type"] != "TRELLIS_FF":
                return False
            c = _ctrl(cells[src[0]])
            if c is None or (ctrl is not None and c != ctrl):
                return False
            ctrl = c
            ffs[i] = src[0]
        if not ffs:
            return False
        plan_in[side] = (ffs, ctrl)
    out_ffs, out_ctrl = {}, None
    for i in range(36):
        b = conn.get(f"P{i}", [None])[0]
        if b is None or isinstance(b, str):
            continue
        ls = loads.get(b, [])
        if not ls:
            continue
        if len(ls) != 1 or ls[0][1] != "DI" or cells.get(ls[0][0], {}).get("type") != "TRELLIS_FF":
            return False
        c = _ctrl(cells[ls[0][0]])
        if c is None or (out_ctrl is not None and c != out_ctrl):
            return False
        out_ctrl = c
        out_ffs[i] = ls[0][0]
    ctrls = {plan_in["A"][1], plan_in["B"][1]} | ({out_ctrl} if out_ffs else set())
    if len({c[0] for c in ctrls}) != 1:
        return False  # one clock
    slots: dict = {}
    for c in sorted(ctrls, key=str):
        slots[c] = len(slots)
    if len(slots) > 4:
        return False
    params = dsp.setdefault("parameters", {})
    dirs = dsp.setdefault("port_directions", {})
    clk = next(iter(ctrls))[0]
    conn["CLK0"] = [clk]
    dirs["CLK0"] = "input"
    for c, k in slots.items():
        conn[f"CE{k}"], conn[f"RST{k}"] = [c[1]], [c[2]]
        dirs[f"CE{k}"] = dirs[f"RST{k}"] = "input"
    for side in ("A", "B"):
        ffs, c = plan_in[side]
        k = slots[c]
        params[f"REG_INPUT{side}_CLK"] = "CLK0"
        params[f"REG_INPUT{side}_CE"] = f"CE{k}"
        params[f"REG_INPUT{side}_RST"] = f"RST{k}"
        for i, ff in ffs.items():
            conn[f"{side}{i}"] = [cells[ff]["connections"]["DI"][0]]
            freed.add(ff)
    if out_ffs:
        k = slots[out_ctrl]
        params["REG_OUTPUT_CLK"] = "CLK0"
        params["REG_OUTPUT_CE"] = f"CE{k}"
        params["REG_OUTPUT_RST"] = f"RST{k}"
        for i, ff in out_ffs.items():
            conn[f"P{i}"] = [cells[ff]["connections"]["Q"][0]]
            del cells[ff]
    params["RESETMODE"] = "SYNC"
    params["GSR"] = "DISABLED"
    return True


def absorb_file(path: Path) -> int:
    """:func:`absorb` on a Yosys JSON netlist file, rewritten in place."""
    d = json.loads(Path(path).read_text())
    n = absorb(d)
    Path(path).write_text(json.dumps(d))
    return n
