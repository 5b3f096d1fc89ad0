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

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
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
        # stage 1: the elements sign-extended (a window's first position, when padded, as the
        # start value: the lowest value for a max, 0 for a sum) and each lane's choice for
        # stage 2 as flags, so stage 2 is a compare or an add and one select
        v1, last1 = Signal(), Signal()
        m.d.sync += [v1.eq(self.valid), last1.eq(self.last)]
        for j in range(self.lanes):
            v = Signal(signed(ab), name=f"v{j}")
            ld, mx, sm = (Signal(name=f"{n}{j}") for n in ("ld", "mx", "sm"))
            with m.If(self.first & self.pad[j]):
                m.d.sync += v.eq(Mux(self.is_max, low, 0))
            with m.Else():
                m.d.sync += v.eq((self.x[j] ^ self.mask) - self.mask)
            m.d.sync += [ld.eq(self.first), mx.eq(~self.first & ~self.pad[j] & self.is_max),
                         sm.eq(~self.first & ~self.pad[j] & ~self.is_max)]
            # stage 2: the running max or sum (a padded position keeps it)
            r = Signal(signed(ab), name=f"r{j}")
            nxt = Signal(signed(ab), name=f"nxt{j}")
            m.d.comb += nxt.eq(Mux(sm, r + v, Mux(ld | (mx & _greater(v, r)), v, r)))
            with m.If(v1):
                m.d.sync += r.eq(nxt)
                with m.If(last1):
                    m.d.sync += self.y[j].eq(nxt)
        m.d.sync += self.out_valid.eq(v1 & last1)
        return m


def _greater(a: Value, b: Value) -> Value:
    """Signed ``a > b`` from three carry chains of half the width side by side (the upper
    halves' ``>`` and ``>=``, the lower halves' unsigned ``>``) and one gate, instead of one
    chain of the whole accumulator width in the pool's loop."""
    n = len(a)
    if n < 8:
        return a > b
    h = n // 2
    a_hi, b_hi = a[h:].as_signed(), b[h:].as_signed()
    return (a_hi > b_hi) | ((a_hi >= b_hi) & (a[:h] > b[:h]))

