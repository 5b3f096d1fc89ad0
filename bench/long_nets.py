"""Where a routed design misses its clock, endpoint by endpoint, from nextpnr's detailed
timing report (docs/BENCHMARKS.md "Fmax, session 13").

    python bench/long_nets.py build/X/synth/ecp5-85k/nextpnr.json --clock 150 --top 30

The report must come from nextpnr run with ``--detailed-timing-report`` (``python -m
rtl_gen synth BUILD --detailed-timing`` passes it). nextpnr lists
there, for each net into a timing endpoint (a flip-flop's or RAM's input), each sink's
earliest and latest arrival: the longest path into that endpoint, ending in that net.
This prints how many endpoints arrive later than the clock's period, the components
that own them, and the latest ones with their last net's driver and fanout: how much of
the design misses the clock, not only the one worst path nextpnr names.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path


def component(cell: str, depth: int) -> str:
    """The engine component of a packed cell's name (``dut.params.ch2.x_LUT4_Z`` ->
    ``params`` at depth 1); wrapper cells are ``(wrapper)``, the engine's own ``(top)``."""
    parts = cell.split(".")
    if parts[0] != "dut":
        return "(wrapper)"
    return ".".join(parts[1:-1][:depth]) or "(top)"


def endpoints(report: dict) -> list[dict]:
    """Every timing endpoint reached by a clocked path: ``cell``, ``port``, ``arrival``
    (ns, latest), ``driver`` (of the path's last net), ``fanout`` (of that net)."""
    if "detailed_net_timings" not in report:
        sys.exit("error: the report has no detailed net timings (run nextpnr with "
                 "--detailed-timing-report)")
    out = []
    for n in report["detailed_net_timings"]:
        if n.get("event") == "<async>":
            continue
        eps = n.get("endpoints", [])
        out += [{"cell": e["cell"], "port": e["port"], "arrival": max(e["delay"]),
                 "driver": n["driver"], "fanout": len(eps)} for e in eps]
    return sorted(out, key=lambda r: -r["arrival"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", type=Path, help="nextpnr's JSON report (--report)")
    p.add_argument("--clock", type=float, default=150.0, help="clock in MHz (default 150)")
    p.add_argument("--top", type=int, default=25, help="latest endpoints to list (default 25)")
    p.add_argument("--depth", type=int, default=1, help="component depth (default 1)")
    a = p.parse_args(argv)
    if not a.report.is_file():
        sys.exit(f"error: {a.report} not found")
    eps = endpoints(json.loads(a.report.read_text()))
    period = 1e3 / a.clock
    late = [r for r in eps if r["arrival"] > period]
    print(f"{len(eps)} endpoints; {len(late)} arrive after {period:.2f} ns ({a.clock:g} MHz); "
          "after 8 / 9 / 10 / 11 ns: "
          + " / ".join(str(sum(r["arrival"] > t for r in eps)) for t in (8, 9, 10, 11)))
    by = collections.Counter(component(r["cell"], a.depth) for r in late)
    total = collections.Counter(component(r["cell"], a.depth) for r in eps)
    print("late endpoints by component (late / all): "
          + ", ".join(f"{k} {v}/{total[k]}" for k, v in by.most_common()))
    cross = sum(component(r["driver"], a.depth) != component(r["cell"], a.depth) for r in late)
    print(f"late endpoints whose last net comes from another component: {cross} of {len(late)}")
    print(f"{'ns':>6} {'fanout':>6}  endpoint <- last net's driver")
    for r in eps[:a.top]:
        print(f"{r['arrival']:6.2f} {r['fanout']:6d}  {r['cell']}.{r['port']} <- {r['driver']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
