"""Wall time of ``python -m rtl_gen build MODEL`` per step (the issue's < 60 s target).

    python bench/build_time.py resnet18_w2a2 --target ecp5-85k --json bench/results/build_resnet18.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="resnet18_w2a2")
    p.add_argument("--target", default="ecp5-85k")
    p.add_argument("--json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "rtl_gen", "build", a.model, "--target",
                            a.target, "-o", str(Path(tmp) / "b")], capture_output=True,
                           text=True, check=False)
        wall = time.perf_counter() - t
    if r.returncode:
        sys.exit(r.stderr)
    steps = [(m[1], float(m[2])) for m in re.finditer(r"\] (.*) \(([\d.]+) s\)", r.stderr)]
    res = {"model": a.model, "target": a.target, "wall_seconds": wall,
           "steps": [{"step": s, "at_seconds": v} for s, v in steps]}
    print(f"{a.model} on {a.target}: {wall:.1f} s wall")
    for s, v in steps:
        print(f"  {v:6.1f} s  {s}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
