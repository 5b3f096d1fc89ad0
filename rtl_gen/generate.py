"""Engine components sized for a compiled program, and their Verilog (via Amaranth)."""

from __future__ import annotations

from amaranth.back import verilog

from n2uq_hw.errors import fail
from rtl_gen.compile.program import Program


def _bits_signed(v: int) -> int:
    return max(2, int(abs(int(v))).bit_length() + 1)


# component limits (rtl_gen/hw/*.py constructors), checked here for one clear error
LIMITS = {"acc": 64, "ow": 32, "fixed": 64, "mult": 40, "bias": 96, "param": 64, "code": 8}


def value_bits(w: dict[str, int]) -> int:
    """Width of the value the thresholds compare: an accumulator or a fixed-point value."""
    return max(w["acc"], w["fixed"])


def widths(program: Program) -> dict[str, int]:
    """Datapath widths that every layer of ``program`` fits (worst case over layers); one
    clear error when a layer needs more than a component supports."""
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
            if n.op in ("threshold", "requant", "linear"):
                x = g.node(n.inputs[0])
                if x.type.kind == "acc" and x.op not in ("conv2d", "linear"):
                    w["acc"] = max(w["acc"], x.type.bits)  # e.g. an avgpool_sum
        if layer.plan is None:  # pools enter the epilogue as its accumulator input
            x = g.node(layer.reads[0]).type
            w["acc"] = max(w["acc"], x.bits + (not x.signed), g.node(layer.nodes[0]).type.bits)
        for name in layer.writes:  # the epilogue writes values through its fixed output
            t = g.node(name).type
            if t.kind == "acc":
                w["fixed"] = max(w["fixed"], t.bits)
    for key, lim in LIMITS.items():
        if w[key] > lim:
            fail(f"the program needs {w[key]}-bit {key} values; the engine supports {lim}")
    return w


def components(program: Program, image_words: int) -> dict:
    """name -> elaboratable component, sized for ``program`` (whose memory image spans
    ``image_words`` words): the engine top level (rtl_gen/hw/engine.py); its Verilog holds
    every unit as its own module."""
    from rtl_gen.compile.descriptor import engine_spec
    from rtl_gen.hw.engine import Engine

    return {"engine": Engine(engine_spec(program, widths(program), image_words))}


def to_verilog(name: str, component) -> str:
    """Verilog text of ``component`` with top module ``name`` (deterministic)."""
    return verilog.convert(component, name=name, emit_src=False)
