"""The synthesis wrapper's pin placement on ECP5 (rtl_gen/synth/pins.py)."""

from __future__ import annotations

import re

import pytest

from n2uq_hw.errors import N2UQError
from rtl_gen.synth.pins import top_edge_balls, trellis_iodb, wrapper_lpf
from rtl_gen.synth.targets import TARGETS


@pytest.mark.parametrize("name", ["ecp5-85k", "ecp5-25k"])
def test_the_wrapper_pins_sit_side_by_side_on_the_top_edge(name):
    t = TARGETS[name]
    lpf = wrapper_lpf(t.chip, t.package, 8, 8)
    sites = dict(re.findall(r'LOCATE COMP "([^"]+)" SITE "([^"]+)";', lpf))
    assert set(sites) == {"clk", "rst", *(f"din[{i}]" for i in range(8)),
                          *(f"dout[{i}]" for i in range(8))}
    assert len(set(sites.values())) == 18  # one ball each
    db = trellis_iodb(t.chip)
    pins = db["packages"][t.package]
    func = {(m["col"], m["row"], m["pio"]): m.get("function", "") for m in db["pio_metadata"]}
    assert all(pins[b]["row"] == 0 for b in sites.values())
    clk = pins[sites["clk"]]
    assert func[(clk["col"], 0, clk["pio"])].startswith("PCLKT")
    cols = [pins[b]["col"] for b in sites.values()]
    edge = [v["col"] for v in pins.values() if v["row"] == 0]
    # the 18 nearest balls to the clock: a stretch of at most a third of the edge
    assert max(cols) - min(cols) <= (max(edge) - min(edge)) / 3


def test_the_pins_nearest_the_clock_come_first():
    db = trellis_iodb("LFE5U-85F")
    balls = top_edge_balls(db, "CABGA381", 6)
    cols = [db["packages"]["CABGA381"][b]["col"] for b in balls]
    dist = [abs(c - cols[0]) for c in cols]
    assert dist == sorted(dist)


@pytest.mark.parametrize(("chip", "package", "n", "msg"), [
    ("LFE5U-85F", "QFN9", 4, "package QFN9 is not in the Trellis I/O database"),
    ("LFE5U-85F", "CABGA381", 500,
     "package CABGA381 has 60 pins on the top edge; the wrapper needs 500"),
    ("LFE5U-99F", "CABGA381", 4, "no Trellis I/O database for LFE5U-99F")])
def test_impossible_pin_requests_are_one_clear_error(chip, package, n, msg):
    with pytest.raises(N2UQError, match=re.escape(msg)):
        top_edge_balls(trellis_iodb(chip), package, n)
