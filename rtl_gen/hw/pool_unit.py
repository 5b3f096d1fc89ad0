"""Pool unit: max or sum over a window, one channel per lane, without the MAC array.

Max pool, ``avgpool_sum`` and vector layers (a 1 x 1 sum: the value itself) stream one
window position per chunk: lane ``j`` of the chunk is channel ``og * PE + j``. Each raw
element is sign-extended at its stored width (``v = (raw ^ m) - m`` with ``m`` the sign
bit, 0 for unsigned codes; the compiler sizes ``acc_bits`` for every pooled value, so the
wider raw lanes of other layers' inputs truncate exactly); padded positions never win
a max and add 0 to a sum. The ``last`` chunk of a window emits the ``lanes`` results
(latency 4: the sign-extended elements are registered, held a second cycle while the
next element is compared with both values the running max can take, merged, and the
final sum, max and flags caught in capture registers before one select per bit), which
enter the epilogue in place of an accumulator. A sum runs in an ``acc_bits`` accumulator;
a max, whose result is always one of its elements, in a register ``bits + 1`` wide whose
loop holds no compare: the running max's select comes from a flag register through a
choice of two registered compares (session 10: the max loop, compare and select in one
cycle, was the routed critical path of four runs).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class PoolUnit(wiring.Component):
    """``lanes`` running max/sum registers of ``acc_bits`` over ``bits``-bit raw lanes."""

    latency = 4

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
        # start value: the lowest value for a max, 0 for a sum) and each lane's choice as
        # flags; stage 2 holds them a second cycle (``w``) while the next element (``v``) is
        # compared, from registers, with both values the running max can take this cycle
        # (``rm`` kept, or ``w`` taken); stage 3 merges: the max loop is the choice register
        # -> a select of the two registered compares -> the choice, no compare in it
        v1, v2, last1, last2, out3 = Signal(), Signal(), Signal(), Signal(), Signal()
        # ``v2 & last2`` as a flip-flop of its own: the capture registers' enable (every
        # lane's result bits, 286 loads on the 4 x 8 engine) had a LUT in front of its net
        cap = Signal(name="cap")
        m.d.sync += [v1.eq(self.valid), last1.eq(self.last), v2.eq(v1), last2.eq(last1),
                     cap.eq(v1 & last1)]
        for j in range(self.lanes):
            v = Signal(signed(ab), name=f"v{j}")
            w = Signal(signed(ab), name=f"w{j}")
            flags1 = [Signal(name=f"{n}1_{j}") for n in ("ld", "mx", "sm", "real", "kmax")]
            ld, mx, sm, real, kmax = (Signal(name=f"{n}{j}")
                                      for n in ("ld", "mx", "sm", "real", "kmax"))
            with m.If(self.first & self.pad[j]):
                m.d.sync += v.eq(Mux(self.is_max, low_m, 0))
            with m.Else():
                m.d.sync += v.eq((self.x[j] ^ self.mask) - self.mask)
            m.d.sync += [flags1[0].eq(self.first),
                         flags1[1].eq(~self.first & ~self.pad[j] & self.is_max),
                         flags1[2].eq(~self.first & ~self.pad[j] & ~self.is_max),
                         flags1[3].eq(~self.pad[j]), flags1[4].eq(self.is_max),
                         w.eq(v), *[f.eq(f1) for f, f1 in zip((ld, mx, sm, real, kmax), flags1)]]
            rs = Signal(signed(ab), name=f"rs{j}")
            rm = Signal(signed(mw), name=f"rm{j}")
            hit = Signal(name=f"hit{j}")
            vm, wm = v[:mw].as_signed(), w[:mw].as_signed()
            # v's compares with the running max as kept and as taken from w this cycle
            gt_keep, gt_take, took = (Signal(name=f"{n}{j}") for n in ("gt_keep", "gt_take",
                                                                       "took"))
            take = Signal(name=f"take{j}")  # w becomes the running max this cycle
            m.d.comb += take.eq(v2 & (ld | (mx & Mux(took, gt_take, gt_keep))))
            m.d.sync += [gt_keep.eq(vm > rm), gt_take.eq(vm > wm), took.eq(take)]
            # the running sum (an accumulator's add) beside the max; a padded position keeps
            # both; a window's last position copies both into capture registers
            rs_n = Signal(signed(ab), name=f"rs_n{j}")
            rm_n = Signal(signed(mw), name=f"rm_n{j}")
            hit_n = Signal(name=f"hit_n{j}")
            m.d.comb += [rs_n.eq(Mux(ld, 0, rs) + Mux(ld | sm, w, 0)),
                         rm_n.eq(Mux(take, wm, rm)),
                         hit_n.eq(real | (~ld & hit))]
            ys = Signal(signed(ab), name=f"ys{j}")
            ym = Signal(signed(mw), name=f"ym{j}")
            yh, yk = Signal(name=f"yh{j}"), Signal(name=f"yk{j}")
            m.d.sync += rm.eq(rm_n)
            with m.If(v2):
                m.d.sync += [rs.eq(rs_n), hit.eq(hit_n)]
            with m.If(cap):
                m.d.sync += [ys.eq(rs_n), ym.eq(rm_n), yh.eq(hit_n), yk.eq(kmax)]
            # stage 4: the window's result, one LUT per bit from registers
            with m.If(out3):
                m.d.sync += self.y[j].eq(Mux(yk, Mux(yh, ym, low), ys))
        m.d.sync += [out3.eq(cap), self.out_valid.eq(out3)]
        return m
