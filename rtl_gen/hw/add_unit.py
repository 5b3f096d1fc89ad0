"""Residual add, per lane (the IR's ``add`` node): ``sat(align(a, sa) + align(b, sb), W)``.

``align(v, s)`` is ``v << s`` for ``s >= 0`` and ``round_shift(v, -s)`` for ``s < 0``; each
input's shift arrives as a left amount and a right amount (one of them 0). One register
stage.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from rtl_gen.hw.common import check_ints, clamp, round_shift, saturating_lanes

MAX_SHIFT = 15


class AddUnit(wiring.Component):
    """``lanes`` aligned, saturating adders; latency 1."""

    latency = 1

    def __init__(self, lanes: int, a_bits: int, b_bits: int, out_bits: int) -> None:
        check_ints("AddUnit", lanes=(lanes, 1, 1024), a_bits=(a_bits, 2, 64),
                   b_bits=(b_bits, 2, 64), out_bits=(out_bits, 2, 64))
        self.lanes, self.out_bits = lanes, out_bits
        sh = unsigned(MAX_SHIFT.bit_length())
        super().__init__({
            "valid": In(1),
            "a": In(data.ArrayLayout(signed(a_bits), lanes)),
            "b": In(data.ArrayLayout(signed(b_bits), lanes)),
            "a_left": In(sh), "a_right": In(sh), "b_left": In(sh), "b_right": In(sh),
            **saturating_lanes(lanes, out_bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        for lane in range(self.lanes):
            a = round_shift(self.a[lane] << self.a_left, self.a_right)
            b = round_shift(self.b[lane] << self.b_left, self.b_right)
            m.d.sync += self.y[lane].eq(clamp(a + b, self.lo, self.hi))
        m.d.sync += self.out_valid.eq(self.valid)
        return m
