"""Lane assembler: builds a chunk's SIMD activation lanes from the fetch unit's segments.

Implements the placement half of the fetch contract (rtl_gen/compile/fetch.py): a segment
``(word, lane0, count, e0)`` puts elements ``e0 .. e0 + count - 1`` of a memory word
(``bits`` wide, ``mem_bits // bits`` per word) into lanes ``lane0 ..``; a pad segment marks
its lanes as padding instead (their value is the per-channel pad value, applied with the
input offset by the operand stage). ``last`` closes the chunk: one cycle later ``lanes`` and
``pad`` hold it with ``out_valid`` and the next chunk starts from all-idle lanes. Each lane
is one ``mem_bits // bits``-input multiplexer, so the cost is ``SIMD x bits x log(E)``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.image import per_word
from rtl_gen.hw.common import check_ints


class LaneAssembler(wiring.Component):
    """SIMD lanes of ``bits``-bit elements from ``mem_bits``-bit words; latency 1."""

    latency = 1

    def __init__(self, simd: int, bits: int, mem_bits: int) -> None:
        check_ints("LaneAssembler", simd=(simd, 1, 1024), bits=(bits, 1, 64),
                   mem_bits=(mem_bits, 8, 512))
        self.simd, self.bits, self.mem_bits = simd, bits, mem_bits
        self.epw = per_word(bits, mem_bits)
        lane = range(simd + 1)
        super().__init__({
            "valid": In(1), "last": In(1), "is_pad": In(1),
            "word": In(mem_bits), "lane0": In(lane), "count": In(lane),
            "e0": In(range(self.epw)),
            "out_valid": Out(1),
            "lanes": Out(data.ArrayLayout(unsigned(bits), simd)),
            "pad": Out(simd),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        acc = Signal(data.ArrayLayout(unsigned(self.bits), self.simd))
        pad = Signal(self.simd)
        elems = [self.word[e * self.bits:(e + 1) * self.bits] for e in range(self.epw)]
        nxt_acc = Signal.like(acc)
        nxt_pad = Signal.like(pad)
        m.d.comb += [nxt_acc.eq(acc), nxt_pad.eq(pad)]
        with m.If(self.valid):
            for j in range(self.simd):
                i = Signal(range(-self.simd, self.simd + 1), name=f"i{j}")
                m.d.comb += i.eq(j - self.lane0)
                with m.If((i >= 0) & (i < self.count)):
                    sel = Signal(range(2 * self.epw + self.simd), name=f"sel{j}")
                    m.d.comb += sel.eq(self.e0 + i)
                    with m.Switch(sel):
                        for e in range(self.epw):
                            with m.Case(e):
                                m.d.comb += nxt_acc[j].eq(elems[e])
                    with m.If(self.is_pad):
                        m.d.comb += nxt_acc[j].eq(0)
                    m.d.comb += nxt_pad[j].eq(self.is_pad)
        with m.If(self.valid & self.last):
            m.d.sync += [self.lanes.eq(nxt_acc), self.pad.eq(nxt_pad), acc.eq(0), pad.eq(0)]
        with m.Elif(self.valid):
            m.d.sync += [acc.eq(nxt_acc), pad.eq(nxt_pad)]
        m.d.sync += self.out_valid.eq(self.valid & self.last)
        return m
