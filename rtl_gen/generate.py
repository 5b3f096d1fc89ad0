"""Engine components sized for a compiled program, and their Verilog (via Amaranth)."""

from __future__ import annotations

from amaranth.back import verilog

from rtl_gen.compile.program import Program
from rtl_gen.hw.accumulator import Accumulator
from rtl_gen.hw.add_unit import AddUnit
from rtl_gen.hw.mac_array import MacArray
from rtl_gen.hw.requant_unit import RequantUnit
from rtl_gen.hw.rprelu_unit import RPReLUUnit
from rtl_gen.hw.threshold_unit import ThresholdUnit


def _bits_signed(v: int) -> int:
    return max(2, int(abs(int(v))).bit_length() + 1)


def widths(program: Program) -> dict[str, int]:
    """Datapath widths that every layer of ``program`` fits (worst case over layers)."""
    g = program.graph
    w = {"acc": 2, "ow": 1, "fixed": 2, "mult": 2, "bias": 2, "param": 2, "code": 1,
         "two_sided": 0}
    for layer in program.layers:
        if layer.plan is not None:
            w["acc"] = max(w["acc"], layer.plan.acc_bits)
            w["ow"] = max(w["ow"], layer.plan.ow.bit_length())
        for name in layer.nodes:
            n = g.node(name)
            if n.type.kind == "fixed":
                w["fixed"] = max(w["fixed"], n.type.bits)
            if n.op == "requant":
                w["mult"] = max(w["mult"], *(_bits_signed(v) for v in n.arrays["multiplier"]))
                w["bias"] = max(w["bias"], *(_bits_signed(v) for v in n.arrays["bias"]))
            if n.op == "rprelu":
                w["param"] = max(w["param"], *(_bits_signed(v) for k in ("bias1", "slope", "bias2")
                                               for v in n.arrays[k]))
            if n.op == "threshold":
                w["code"] = max(w["code"], int(n.attrs["bits"]))
                w["two_sided"] |= int("neg" in n.arrays)
    return w


def components(program: Program) -> dict:
    """name -> elaboratable component, sized for ``program``."""
    cfg, w = program.config, widths(program)
    mac = MacArray(cfg.pe, cfg.simd, cfg.a_bits, cfg.w_bits)
    value_bits = max(w["acc"], w["fixed"])
    return {
        "mac_array": mac,
        "accumulator": Accumulator(cfg.pe, mac.dot_bits, mac.xsum_bits, w["ow"], w["acc"]),
        "threshold_unit": ThresholdUnit(cfg.pe, value_bits, w["code"], bool(w["two_sided"])),
        "requant_unit": RequantUnit(cfg.pe, value_bits, w["mult"], w["bias"], w["fixed"]),
        "add_unit": AddUnit(cfg.pe, w["fixed"], w["fixed"], w["fixed"]),
        "rprelu_unit": RPReLUUnit(cfg.pe, w["fixed"], w["param"], w["fixed"]),
    }


def to_verilog(name: str, component) -> str:
    """Verilog text of ``component`` with top module ``name`` (deterministic)."""
    return verilog.convert(component, name=name, emit_src=False)
