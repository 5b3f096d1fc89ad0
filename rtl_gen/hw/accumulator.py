"""Per-PE accumulators for digit-serial dot products (rtl_gen/compile/operands.py).

Each valid beat adds ``dot[p] << dot_shift`` and, when ``corr`` is set (the ``e = 0``
weight digit), subtracts ``(ow * xsum) << x_shift``; ``first`` starts from the per-channel
constant ``init[p]`` instead of the running sum, and ``last`` emits the finished sum on
``acc`` with ``out_valid``. ``ow * xsum`` is formed once for all PEs (xsum is shared).
Latency 2 (product of ``ow * xsum``, then the add).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_int


class Accumulator(wiring.Component):
    """``pe`` accumulators of ``acc_bits`` bits; latency 2 from ``valid`` to ``out_valid``."""

    latency = 2

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
        # stage 1: register the beat, form ow * xsum once
        v1, f1, l1 = Signal(), Signal(), Signal()
        corr = Signal(signed(ab))
        dsh = Signal(6)
        m.d.sync += [v1.eq(self.valid), f1.eq(self.first), l1.eq(self.last), dsh.eq(self.dot_shift),
                     corr.eq(Mux(self.corr, (self.ow * self.xsum) << self.x_shift, 0))]
        dots = [Signal(self.dot_bits, name=f"dot_r{p}") for p in range(self.pe)]
        inits = [Signal(signed(ab), name=f"init_r{p}") for p in range(self.pe)]
        for p in range(self.pe):
            m.d.sync += [dots[p].eq(self.dot[p]), inits[p].eq(self.init[p])]
        # stage 2: accumulate; emit on last
        sums = [Signal(signed(ab), name=f"sum{p}") for p in range(self.pe)]
        with m.If(v1):
            for p in range(self.pe):
                base = Mux(f1, inits[p], sums[p])
                nxt = (base + (dots[p] << dsh) - corr)[:ab].as_signed()
                m.d.sync += sums[p].eq(nxt)
                m.d.sync += self.acc[p].eq(nxt)
        m.d.sync += self.out_valid.eq(v1 & l1)
        return m
