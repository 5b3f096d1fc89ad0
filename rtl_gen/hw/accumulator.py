"""Per-PE accumulators for digit-serial dot products (rtl_gen/compile/operands.py).

Each valid beat adds ``dot[p] << dot_shift`` and, when ``corr`` is set (the ``e = 0``
weight digit), subtracts ``(ow * xsum) << x_shift``; ``first`` starts from the per-channel
constant ``init[p]`` instead of the running sum, and ``last`` emits the finished sum on
``acc`` with ``out_valid``. ``ow * xsum`` is formed once for all PEs (xsum is shared).
Pipelined (latency 5): register the beat; the product ``ow * xsum`` and the low 3 bits of
the dot shift; the high 3 bits and the correction's shift; their difference; the
accumulating add (the only loop, one adder and a select).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import pipelined as pl
from rtl_gen.hw.common import check_int


class Accumulator(wiring.Component):
    """``pe`` accumulators of ``acc_bits`` bits; ``latency`` from ``valid`` to ``out_valid``."""

    latency = 5

    def __init__(self, pe: int, dot_bits: int, xsum_bits: int, ow_bits: int,
                 acc_bits: int) -> None:
        check_int("Accumulator", "pe", pe, 1, 1024)
        check_int("Accumulator", "dot_bits", dot_bits, 1, 32)
        check_int("Accumulator", "xsum_bits", xsum_bits, 1, 32)
        check_int("Accumulator", "ow_bits", ow_bits, 1, 32)
        check_int("Accumulator", "acc_bits", acc_bits, 2, 64)
        self.pe, self.acc_bits = pe, acc_bits
        self.dot_bits, self.xsum_bits, self.ow_bits = dot_bits, xsum_bits, ow_bits
        super().__init__({
            "valid": In(1), "first": In(1), "last": In(1), "corr": In(1),
            "dot": In(data.ArrayLayout(unsigned(dot_bits), pe)),
            "xsum": In(unsigned(xsum_bits)),
            "init": In(data.ArrayLayout(signed(acc_bits), pe)),
            "ow": In(unsigned(ow_bits)),
            "dot_shift": In(unsigned(6)),
            "x_shift": In(unsigned(6)),
            "out_valid": Out(1),
            "acc": Out(data.ArrayLayout(signed(acc_bits), pe)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        ab = self.acc_bits
        reg = pl.reg
        # stage 1: the beat registered
        v1, f1, l1, c1 = (reg(m, s, f"{n}1") for n, s in (
            ("v", self.valid), ("f", self.first), ("l", self.last), ("c", self.corr)))
        dsh1, xsh1 = reg(m, self.dot_shift, "dsh1"), reg(m, self.x_shift, "xsh1")
        ow1, xs1 = reg(m, self.ow, "ow1"), reg(m, self.xsum, "xs1")
        dots1 = [reg(m, self.dot[p], f"dot1_{p}") for p in range(self.pe)]
        inits = [reg(m, self.init[p], f"init1_{p}") for p in range(self.pe)]
        # stage 2: ow * xsum (once); dots shifted by the low 3 bits of the shift
        cp2 = reg(m, ow1 * xs1, "cp2")
        v2, f2, l2, c2 = (reg(m, s, f"{n}2") for n, s in (("v", v1), ("f", f1), ("l", l1),
                                                          ("c", c1)))
        dhi2, xsh2 = reg(m, dsh1[3:], "dhi2"), reg(m, xsh1, "xsh2")
        dots2 = [reg(m, (dots1[p] << dsh1[:3])[:ab], f"dot2_{p}", ab) for p in range(self.pe)]
        # stage 3: the high 3 bits of the shift; the correction (ow * xsum) << x_shift
        corr3 = reg(m, Mux(c2, (cp2 << xsh2)[:ab], 0), "corr3", ab)
        v3, f3, l3 = (reg(m, s, f"{n}3") for n, s in (("v", v2), ("f", f2), ("l", l2)))
        dots3 = [reg(m, (dots2[p] << (dhi2 << 3))[:ab], f"dot3_{p}", ab) for p in range(self.pe)]
        # stage 4: the beat's term, modulo 2^acc_bits like the sum
        v4, f4, l4 = (reg(m, s, f"{n}4") for n, s in (("v", v3), ("f", f3), ("l", l3)))
        terms = [reg(m, (dots3[p] - corr3)[:ab].as_signed(), f"term4_{p}", signed(ab))
                 for p in range(self.pe)]
        inits = [pl.delay(m, inits[p], 3, f"init_{p}") for p in range(self.pe)]
        # stage 5: accumulate; emit on last
        sums = [Signal(signed(ab), name=f"sum{p}") for p in range(self.pe)]
        with m.If(v4):
            for p in range(self.pe):
                nxt = Signal(signed(ab), name=f"next{p}")
                m.d.comb += nxt.eq((Mux(f4, inits[p], sums[p]) + terms[p])[:ab].as_signed())
                m.d.sync += [sums[p].eq(nxt), self.acc[p].eq(nxt)]
        m.d.sync += self.out_valid.eq(v4 & l4)
        return m
