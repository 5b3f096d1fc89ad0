"""Pool unit: max or sum over a window, one channel per lane, without the MAC array.

Max pool, ``avgpool_sum`` and vector layers (a 1 x 1 sum: the value itself) stream one
window position per chunk: lane ``j`` of the chunk is channel ``og * PE + j``. Each raw
element is sign-extended at its stored width (``v = (raw ^ m) - m`` with ``m`` the sign
bit, 0 for unsigned codes; the compiler sizes ``acc_bits`` for every pooled value, so the
wider raw lanes of other layers' inputs truncate exactly); padded positions never win a max and add 0 to a sum. The
``last`` chunk of a window emits the ``lanes`` results (latency 3: the sign-extended
elements are registered before the compare or add, and the final sum, max and flags in
capture registers before one select per bit, for the clock), which enter the
epilogue in place of an accumulator. A sum runs in an ``acc_bits`` accumulator; a max, whose
result is always one of its elements, in a register, compare and select ``bits + 1`` wide,
so its loop is short (session 9: the 36-bit max loop was the routed critical path of three
runs).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class PoolUnit(wiring.Component):
    """``lanes`` running max/sum registers of ``acc_bits`` over ``bits``-bit raw lanes."""

    latency = 3

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
        # a max only ever holds one of its elements, which fit ``bits + 1`` signed bits: its
        # register, compare and select are that narrow (a 3-bit compare for 2-bit codes), not
        # the accumulator's width; a lane padded at every position (a flag) gives ``low``
        mw = min(self.bits + 1, ab)
        low_m = -(1 << (mw - 1))
        # stage 1: the elements sign-extended (a window's first position, when padded, as the
        # start value: the lowest value for a max, 0 for a sum) and each lane's choice for
        # stage 2 as flags, so stage 2 is a compare or an add and one select
        v1, last1, out2 = Signal(), Signal(), Signal()
        m.d.sync += [v1.eq(self.valid), last1.eq(self.last)]
        for j in range(self.lanes):
            v = Signal(signed(ab), name=f"v{j}")
            ld, mx, sm, real, kmax = (Signal(name=f"{n}{j}")
                                      for n in ("ld", "mx", "sm", "real", "kmax"))
            with m.If(self.first & self.pad[j]):
                m.d.sync += v.eq(Mux(self.is_max, low_m, 0))
            with m.Else():
                m.d.sync += v.eq((self.x[j] ^ self.mask) - self.mask)
            m.d.sync += [ld.eq(self.first), mx.eq(~self.first & ~self.pad[j] & self.is_max),
                         sm.eq(~self.first & ~self.pad[j] & ~self.is_max),
                         real.eq(~self.pad[j]), kmax.eq(self.is_max)]
            # stage 2: the running sum (an accumulator's add) and the running max (a narrow
            # compare and select) side by side; a padded position keeps both; a window's
            # last position copies both into capture registers
            rs = Signal(signed(ab), name=f"rs{j}")
            rm = Signal(signed(mw), name=f"rm{j}")
            hit = Signal(name=f"hit{j}")
            rs_n = Signal(signed(ab), name=f"rs_n{j}")
            rm_n = Signal(signed(mw), name=f"rm_n{j}")
            hit_n = Signal(name=f"hit_n{j}")
            vm = v[:mw].as_signed()
            m.d.comb += [rs_n.eq(Mux(ld, 0, rs) + Mux(ld | sm, v, 0)),
                         rm_n.eq(Mux(ld | (mx & _greater(vm, rm)), vm, rm)),
                         hit_n.eq(real | (~ld & hit))]
            ys = Signal(signed(ab), name=f"ys{j}")
            ym = Signal(signed(mw), name=f"ym{j}")
            yh, yk = Signal(name=f"yh{j}"), Signal(name=f"yk{j}")
            with m.If(v1):
                m.d.sync += [rs.eq(rs_n), rm.eq(rm_n), hit.eq(hit_n)]
                with m.If(last1):
                    m.d.sync += [ys.eq(rs_n), ym.eq(rm_n), yh.eq(hit_n), yk.eq(kmax)]
            # stage 3: the window's result, one LUT per bit from registers
            with m.If(out2):
                m.d.sync += self.y[j].eq(Mux(yk, Mux(yh, ym, low), ys))
        m.d.sync += [out2.eq(v1 & last1), self.out_valid.eq(out2)]
        return m


def _greater(a: Value, b: Value) -> Value:
    """Signed ``a > b`` from three carry chains of half the width side by side (the upper
    halves' ``>`` and ``>=``, the lower halves' unsigned ``>``) and one gate, instead of one
    chain of the whole width in the pool's loop; below 16 bits one chain is as short."""
    n = len(a)
    if n < 16:
        return a > b
    h = n // 2
    a_hi, b_hi = a[h:].as_signed(), b[h:].as_signed()
    return (a_hi > b_hi) | ((a_hi >= b_hi) & (a[:h] > b[:h]))

