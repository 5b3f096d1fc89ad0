"""End-to-end simulation benchmark: build a network, run ``python -m rtl_gen sim`` on it
(cocotb + Verilator) and record bit exactness, wall times, simulated cycles, MAC-array
utilisation and frames per second at the target's clock.

    python bench/sim_network.py resnet18_w2a2 --target ecp5-85k \\
        --json bench/results/sim_resnet18.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="resnet18_w2a2")
    p.add_argument("--target", default="ecp5-85k")
    p.add_argument("--build", help="build folder to reuse (default: build a fresh one in "
                   "build/bench_MODEL_TARGET)")
    p.add_argument("--fast", action="store_true", help="compile the model with -O2 (for long "
                   "runs: a slower build, a faster simulation)")
    p.add_argument("--json")
    a = p.parse_args()
    build = Path(a.build or f"build/bench_{a.model}_{a.target}")
    t0 = time.perf_counter()
    # the default folder is rebuilt every run (a stale one would simulate old RTL); a
    # folder given with --build is reused when it holds a build
    if a.build is None or not (build / "program.json").is_file():
        subprocess.run([sys.executable, "-m", "rtl_gen", "build", a.model, "--target", a.target,
                        "-o", str(build)], check=True)
    t1 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "rtl_gen", "sim", str(build),
                        *(["--fast"] if a.fast else [])], check=False)
    t2 = time.perf_counter()
    result = build / "sim" / "result" / "result.json"
    if not result.is_file():  # the sim command said why (one line) and wrote no result
        sys.exit(r.returncode or 1)
    res = json.loads(result.read_text())
    out = {"model": a.model, "target": a.target, "exit_status": r.returncode,
           "build_seconds": round(t1 - t0, 1), "sim_command_seconds": round(t2 - t1, 1),
           **{k: res[k] for k in ("mismatches", "elements", "tensors", "cycles", "utilisation",
                                  "fps", "clock_mhz", "build_s", "sim_s",
                                  "cycles_within_5_percent")},
           "layers": res["layers"]}
    print(json.dumps({k: v for k, v in out.items() if k != "layers"}, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
