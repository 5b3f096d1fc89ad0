"""Lane assembler: builds a chunk's SIMD activation lanes from the fetch unit's segments.

Implements the placement half of the fetch contract (rtl_gen/compile/fetch.py): a segment
``(word, lane0, count, e0)`` puts elements ``e0 .. e0 + count - 1`` of a memory word
(``bits`` wide, ``mem_bits // bits`` per word) into lanes ``lane0 ..``; a pad segment marks
its lanes as padding instead (their value is the per-channel pad value, applied with the
input offset by the operand stage). ``last`` closes the chunk: two cycles later ``lanes`` and
``pad`` hold it with ``out_valid`` and the next chunk starts from all-idle lanes. Each lane
is one ``mem_bits // bits``-input multiplexer, so the cost is ``SIMD x bits x log(E)``.

Two stages for the clock (docs/ARCHITECTURE.md "Timing"): the first registers the word and,
per lane, whether the segment writes it and which element (``(e0 - lane0 + j) mod E``, one
subtraction shared by all lanes); the second selects the elements into the lanes.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.image import per_word
from rtl_gen.hw.common import check_ints


class LaneAssembler(wiring.Component):
    """SIMD lanes of ``bits``-bit elements from ``mem_bits``-bit words; latency 2."""

    latency = 2

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
        simd, epw = self.simd, self.epw
        lg = max(1, (epw - 1).bit_length())
        # ---- stage 1: which lanes the segment writes, and from which element -------------
        v1, last1, pad1 = Signal(), Signal(), Signal()
        word1 = Signal(self.mem_bits)
        en1, sel1 = Signal(simd), Signal(data.ArrayLayout(lg, simd))
        rot = Signal(lg)  # e0 - lane0 mod E: lane j takes element (rot + j) mod E
        end = Signal(range(2 * simd + 1))
        m.d.comb += [rot.eq(self.e0 - self.lane0), end.eq(self.lane0 + self.count)]
        m.d.sync += [v1.eq(self.valid), last1.eq(self.valid & self.last), pad1.eq(self.is_pad),
                     word1.eq(self.word)]
        for j in range(simd):
            m.d.sync += [en1[j].eq((self.lane0 <= j) & (j < end)), sel1[j].eq(rot + j)]
        # ---- stage 2: the elements into the lanes ----------------------------------------
        acc = Signal(data.ArrayLayout(unsigned(self.bits), simd))
        pad = Signal(simd)
        elems = [word1[e * self.bits:(e + 1) * self.bits] for e in range(epw)]
        nxt_acc = Signal.like(acc)
        nxt_pad = Signal.like(pad)
        m.d.comb += [nxt_acc.eq(acc), nxt_pad.eq(pad)]
        with m.If(v1):
            for j in range(simd):
                with m.If(en1[j]):
                    with m.If(pad1):
                        m.d.comb += nxt_acc[j].eq(0)
                    with m.Else(), m.Switch(sel1[j]):
                        for e in range(epw):
                            with m.Case(e):
                                m.d.comb += nxt_acc[j].eq(elems[e])
                    m.d.comb += nxt_pad[j].eq(pad1)
        with m.If(last1):
            m.d.sync += [self.lanes.eq(nxt_acc), self.pad.eq(nxt_pad), acc.eq(0), pad.eq(0)]
        with m.Elif(v1):
            m.d.sync += [acc.eq(nxt_acc), pad.eq(nxt_pad)]
        m.d.sync += self.out_valid.eq(last1)
        return m
