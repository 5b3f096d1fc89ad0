"""Synthesis benchmark: the resnet18_w2a2 engine on an ECP5-85K (docs/BENCHMARKS.md).

    python bench/synth_resnet18.py --json bench/results/synth_resnet18.json

1. build resnet18_w2a2 for ecp5-85k (the target's default engine) and synthesize it; a
   design that does not fit stops after Yosys with its resource figures;
2. with ``--fit``, run ``synth --fit`` (largest PE x SIMD that fits with the margin at the
   clock, confirmed by place and route) on the same build.

Every step's result (the synth verb's result.json, or the error and the Yosys figures) is
collected into the JSON file, with the command, wall time and tool versions.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def run(args: list[str]) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-m", "rtl_gen", *args], cwd=ROOT, capture_output=True, text=True,
                       check=False)
    return p.returncode, p.stdout + p.stderr, time.perf_counter() - t0


def yosys_figures(build: Path, target: str) -> dict | None:
    """Resource figures from the Yosys log of a run that stopped before nextpnr."""
    from rtl_gen.synth import parse

    log = build / "synth" / f"{target}.failed.log"
    if not log.is_file():
        return None
    text = log.read_text()
    if "Printing statistics" not in text:
        return None
    import re

    last = text.rsplit("Printing statistics", 1)[-1]
    mods: dict = {}
    for blk in re.split(r"\n=== ", last)[1:]:
        name = blk.split(" ===")[0].strip().lstrip("\\")
        cells = {m[2].lstrip("\\"): int(m[1]) for m in re.finditer(r"^\s+(\d+)\s+(\S+)\s*$",
                                                                    blk, re.MULTILINE)}
        mods[name] = {"num_cells_by_type": cells}
    stats = parse.module_stats({"modules": mods})
    if "engine" not in stats:
        return None
    return {"engine": parse.totals(stats, "engine"),
            "components": parse.hierarchy(stats, "engine", depth=2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json")
    p.add_argument("--out", default="build/bench_r18_85k")
    p.add_argument("--fit", action="store_true")
    p.add_argument("--skip-default", action="store_true", help="only the --fit run")
    p.add_argument("--clock", default="150")
    p.add_argument("--no-route", action="store_true",
                   help="stop after placement (nextpnr's post-placement Fmax estimate)")
    a = p.parse_args()
    out = ROOT / a.out
    res = {"machine": f"{platform.node()} ({platform.machine()}), {platform.platform()}",
           "steps": []}
    if not (out / "report.json").is_file():
        rc, log, secs = run(["build", "resnet18_w2a2", "--target", "ecp5-85k", "-o", a.out])
        res["steps"].append({"command": f"python -m rtl_gen build resnet18_w2a2 --target "
                             f"ecp5-85k -o {a.out}", "rc": rc, "seconds": round(secs, 1)})
        if rc:
            sys.exit(log)
    cmds = []
    if not a.skip_default:
        # hard multipliers even where the estimate says 161 of 156 DSPs: the soft ones of 32
        # lanes take Yosys hours, and the LUT count alone shows the fit
        cmds.append(["synth", a.out, "--target", "ecp5-85k", "--clock", a.clock,
                     "--multipliers", "hard"] + (["--no-route"] if a.no_route else []))
    if a.fit:
        cmds.append(["synth", a.out, "--target", "ecp5-85k", "--clock", a.clock, "--fit"])
    for cmd in cmds:
        rc, log, secs = run(cmd)
        step = {"command": "python -m rtl_gen " + " ".join(cmd), "rc": rc,
                "seconds": round(secs, 1), "last_line": log.strip().splitlines()[-1]}
        print(step["last_line"], flush=True)
        result = out / "synth" / "ecp5-85k" / "result.json"
        if rc == 0 and result.is_file():
            step["result"] = json.loads(result.read_text())
        else:
            step["yosys"] = yosys_figures(out, "ecp5-85k")
            unconfirmed = out / "synth" / "ecp5-85k.fit-unconfirmed.json"
            if unconfirmed.is_file():
                step["result"] = json.loads(unconfirmed.read_text())
        res["steps"].append(step)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
