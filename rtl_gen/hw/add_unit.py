"""Residual add, per lane (the IR's ``add`` node): ``sat(align(a, sa) + align(b, sb), W)``.

``align(v, s)`` is ``v << s`` for ``s >= 0`` and ``round_shift(v, -s)`` for ``s < 0``; each
input's shift arrives as a left amount and a right amount (one of them 0). Pipelined
(rtl_gen/hw/pipelined.py) with one shifter per input: ``align(v, l, r)`` equals
``round_shift(v << 15, 15 - l + r)`` for every ``l, r`` in 0..15 (the low 15 bits of
``v << 15`` are zero, so rounding and shifting by ``15 - l + r`` is rounding by ``r`` after
shifting by ``l``): inputs (beside the per-layer amounts), rounding add, shift, sum,
compare, select.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from rtl_gen.hw import pipelined as pl
from rtl_gen.hw.common import check_ints, saturating_lanes

MAX_SHIFT = 15


class AddUnit(wiring.Component):
    """``lanes`` aligned, saturating adders; ``latency`` cycles."""

    latency = 1 + 1 + 2 + 1 + pl.CLAMP_LATENCY

    def __init__(self, lanes: int, a_bits: int, b_bits: int, out_bits: int) -> None:
        check_ints("AddUnit", lanes=(lanes, 1, 1024), a_bits=(a_bits, 2, 64),
                   b_bits=(b_bits, 2, 64), out_bits=(out_bits, 2, 64))
        self.lanes, self.out_bits, self.a_bits, self.b_bits = lanes, out_bits, a_bits, b_bits
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
        # per-layer amounts (0 .. 2 * MAX_SHIFT) and rounding constants, once for all lanes
        # and registered (the caller holds them while a group streams through)
        amount, half = {}, {}
        for name, left, right, bits in (("a", self.a_left, self.a_right, self.a_bits),
                                        ("b", self.b_left, self.b_right, self.b_bits)):
            live = (MAX_SHIFT - left + right)[:5]
            amount[name] = pl.reg(m, live, f"{name}_amount", 5)
            half[name] = pl.reg(m, pl.round_half(live, bits + MAX_SHIFT + 1), f"{name}_half",
                                signed(bits + MAX_SHIFT + 1))
        for lane in range(self.lanes):
            aligned = []
            for name, v in (("a", self.a[lane]), ("b", self.b[lane])):
                v = pl.reg(m, v, f"{name}{lane}")  # beside the amounts' registers
                s = amount[name]
                wide = Cat(Const(0, MAX_SHIFT), v).as_signed()  # v << 15
                w = len(wide) + 1
                rnd = pl.reg(m, wide + half[name], f"{name}r{lane}", signed(w))
                al, _ = pl.shift_right(m, rnd, s, name=f"{name}s{lane}", per=3)
                aligned.append(al)
            total = pl.reg(m, aligned[0] + aligned[1], f"sum{lane}")
            y, _ = pl.clamp(m, total, self.lo, self.hi, name=f"sat{lane}")
            m.d.comb += self.y[lane].eq(y)
        m.d.comb += self.out_valid.eq(pl.delay(m, self.valid, self.latency, "valid"))
        return m
