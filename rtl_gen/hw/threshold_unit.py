"""Threshold unit: accumulator (or fixed-point value) to b-bit code, per lane.

Implements the IR's ``threshold`` node (docs/IR.md) as a comparator bank, one comparator
per threshold: ``code = #{i : v >= pos[i]}``, or for a two-sided channel with
``v < breakpoint``: ``code = #{i : v <= neg[i]}``. A bank (2^b - 1 comparators, twice that
when two-sided) costs more LUTs than a binary search but gives one code per lane per cycle,
which the MAC array's throughput needs, with two register stages (the comparisons, then
their count). The per-channel
thresholds come from the caller (the engine's threshold memory); one-sided channels pass
``breakpoint = min`` so the ``pos`` side is always taken.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_int


class ThresholdUnit(wiring.Component):
    """``lanes`` parallel comparator banks on ``in_bits``-bit signed inputs; latency 2
    (the comparisons registered, then their count)."""

    latency = 2

    def __init__(self, lanes: int, in_bits: int, code_bits: int, two_sided: bool = True) -> None:
        check_int("ThresholdUnit", "lanes", lanes, 1, 1024)
        check_int("ThresholdUnit", "in_bits", in_bits, 2, 64)
        check_int("ThresholdUnit", "code_bits", code_bits, 1, 8)
        self.lanes, self.in_bits, self.code_bits = lanes, in_bits, code_bits
        self.two_sided = bool(two_sided)
        n = 2**code_bits - 1
        self.levels = n
        tb = in_bits + 1  # thresholds are clipped to [min(v), max(v) + 1]
        self.t_bits = tb
        sig = {
            "valid": In(1),
            "v": In(data.ArrayLayout(signed(in_bits), lanes)),
            "pos": In(data.ArrayLayout(data.ArrayLayout(signed(tb), n), lanes)),
            "out_valid": Out(1),
            "code": Out(data.ArrayLayout(unsigned(code_bits), lanes)),
        }
        if self.two_sided:
            sig["neg"] = In(data.ArrayLayout(data.ArrayLayout(signed(tb), n), lanes))
            sig["breakpoint"] = In(data.ArrayLayout(signed(tb), lanes))
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        for lane in range(self.lanes):
            v = self.v[lane]
            ge = Signal(self.levels, name=f"ge{lane}")
            m.d.sync += ge.eq(Cat(v >= self.pos[lane][i] for i in range(self.levels)))
            code = Signal(self.code_bits, name=f"code{lane}_c")
            if self.two_sided:
                le = Signal(self.levels, name=f"le{lane}")
                side = Signal(name=f"side{lane}")
                m.d.sync += [le.eq(Cat(v <= self.neg[lane][i] for i in range(self.levels))),
                             side.eq(v >= self.breakpoint[lane])]
                m.d.comb += code.eq(Mux(side, _count(ge), _count(le)))
            else:
                m.d.comb += code.eq(_count(ge))
            m.d.sync += self.code[lane].eq(code)
        v1 = Signal()
        m.d.sync += [v1.eq(self.valid), self.out_valid.eq(v1)]
        return m


def _count(bits: Value) -> Value:
    return sum(bits[i].as_unsigned() for i in range(len(bits)))
