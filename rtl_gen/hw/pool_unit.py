"""Pool unit: max or sum over a window, one channel per lane, without the MAC array.

Max pool, ``avgpool_sum`` and vector layers (a 1 x 1 sum: the value itself) stream one
window position per chunk: lane ``j`` of the chunk is channel ``og * PE + j``. Each raw
element is sign-extended at its stored width (``v = (raw ^ m) - m`` with ``m`` the sign
bit, 0 for unsigned codes; the compiler sizes ``acc_bits`` for every pooled value, so the
wider raw lanes of other layers' inputs truncate exactly); padded positions never win a max and add 0 to a sum. The
``last`` chunk of a window emits the ``lanes`` results (latency 2: the sign-extended
elements are registered before the compare or add, for the clock), which enter the
epilogue in place of an accumulator.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class PoolUnit(wiring.Component):
    """``lanes`` running max/sum registers of ``acc_bits`` over ``bits``-bit raw lanes."""

    latency = 2

    def __init__(self, lanes: int, bits: int, acc_bits: int) -> None:
        check_ints("PoolUnit", lanes=(lanes, 1, 1024), bits=(bits, 1, 64),
                   acc_bits=(acc_bits, 2, 64))
        self.lanes, self.bits, self.acc_bits = lanes, bits, acc_bits
        super().__init__({
            "valid": In(1), "first": In(1), "last": In(1), "is_max": In(1),
            "mask": In(bits),
            "x": In(data.ArrayLayout(unsigned(bits), lanes)), "pad": In(lanes),
            "out_valid": Out(1),
            "y": Out(data.ArrayLayout(signed(acc_bits), lanes)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        ab = self.acc_bits
        low = -(1 << (ab - 1))
        # stage 1: the elements sign-extended, with the chunk's flags
        v1, first1, last1 = Signal(), Signal(), Signal()
        is_max1, pad1 = Signal(), Signal(self.lanes)
        m.d.sync += [v1.eq(self.valid), first1.eq(self.first), last1.eq(self.last),
                     is_max1.eq(self.is_max), pad1.eq(self.pad)]
        for j in range(self.lanes):
            v = Signal(signed(ab), name=f"v{j}")
            m.d.sync += v.eq((self.x[j] ^ self.mask) - self.mask)
            # stage 2: the running max or sum (compare and add read registers directly)
            r = Signal(signed(ab), name=f"r{j}")
            nxt = Signal(signed(ab), name=f"nxt{j}")
            with m.If(first1):
                m.d.comb += nxt.eq(Mux(pad1[j], Mux(is_max1, low, 0), v))
            with m.Elif(pad1[j]):
                m.d.comb += nxt.eq(r)
            with m.Elif(is_max1):
                m.d.comb += nxt.eq(Mux(v > r, v, r))
            with m.Else():
                m.d.comb += nxt.eq(r + v)
            with m.If(v1):
                m.d.sync += r.eq(nxt)
                with m.If(last1):
                    m.d.sync += self.y[j].eq(nxt)
        m.d.sync += self.out_valid.eq(v1 & last1)
        return m
