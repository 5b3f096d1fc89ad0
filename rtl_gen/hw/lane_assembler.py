"""Lane assembler: builds a chunk's SIMD activation lanes from the fetch unit's segments.

Implements the placement half of the fetch contract (rtl_gen/compile/fetch.py): a segment
``(word, lane0, count, e0)`` puts elements ``e0 .. e0 + count - 1`` of a memory word
(``bits`` wide, ``mem_bits // bits`` per word) into lanes ``lane0 ..``; a pad segment marks
its lanes as padding instead (their value is the per-channel pad value, applied with the
input offset by the operand stage). ``last`` closes the chunk: ``latency`` cycles later
``lanes`` and ``pad`` hold it with ``out_valid`` and the next chunk starts from all-idle
lanes.

Lane ``j`` takes element ``(e0 - lane0 + j) mod E``: the same rotation of the word for every
lane, so the word is rotated once (``mem_bits x log(E)`` multiplexers, in stages of up to
three levels) and lane ``j`` then takes element ``j mod E`` of it when the segment writes
the lane; no per-lane element multiplexer (docs/ARCHITECTURE.md "Timing"). The first stage
registers the word, the rotation and which lanes the segment writes.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.image import per_word
from rtl_gen.hw.common import check_ints


class LaneAssembler(wiring.Component):
    """SIMD lanes of ``bits``-bit elements from ``mem_bits``-bit words; pipelined
    (``min_latency`` pads it, so assemblers sharing one output FIFO stay in step)."""

    def __init__(self, simd: int, bits: int, mem_bits: int, min_latency: int = 0) -> None:
        check_ints("LaneAssembler", simd=(simd, 1, 1024), bits=(bits, 1, 64),
                   mem_bits=(mem_bits, 8, 512), min_latency=(min_latency, 0, 16))
        self.simd, self.bits, self.mem_bits = simd, bits, mem_bits
        self.epw = per_word(bits, mem_bits)
        self.min_latency = min_latency
        lane = range(simd + 1)
        super().__init__({
            "valid": In(1), "last": In(1), "is_pad": In(1),
            "word": In(mem_bits), "lane0": In(lane), "count": In(lane),
            "e0": In(range(self.epw)),
            "out_valid": Out(1),
            "lanes": Out(data.ArrayLayout(unsigned(bits), simd)),
            "pad": Out(simd),
        })

    @property
    def latency(self) -> int:
        """Cycles from a ``last`` segment to ``out_valid``."""
        return 1 + len(self._rot_stages()) + 1

    def _rot_stages(self) -> list[range]:
        st = _rotation_stages(self.epw)
        return st + [range(0)] * max(0, self.min_latency - 2 - len(st))

    def elaborate(self, platform) -> Module:
        m = Module()
        simd, epw, bits = self.simd, self.epw, self.bits
        lg = max(1, (epw - 1).bit_length())
        # ---- stage 1: which lanes the segment writes, and the rotation -------------------
        v, last, pad = Signal(), Signal(), Signal()
        word, en, rot = Signal(self.mem_bits), Signal(simd), Signal(lg)
        end = Signal(range(2 * simd + 1))
        m.d.comb += end.eq(self.lane0 + self.count)
        m.d.sync += [v.eq(self.valid), last.eq(self.valid & self.last), pad.eq(self.is_pad),
                     word.eq(self.word), rot.eq(self.e0 - self.lane0)]
        for j in range(simd):
            m.d.sync += en[j].eq((self.lane0 <= j) & (j < end))
        # ---- rotation stages: element k of the result is element (k + rot) mod E ----------
        for i, bits_of_rot in enumerate(self._rot_stages()):
            w = word
            for b in bits_of_rot:
                k = (1 << b) * bits
                w = Mux(rot[b], Cat(w[k:epw * bits], w[:k], w[epw * bits:]), w)
            nv, nl, npad = Signal(name=f"v{i}"), Signal(name=f"last{i}"), Signal(name=f"pad{i}")
            nword, nen, nrot = (Signal(len(word), name=f"word{i}"), Signal(simd, name=f"en{i}"),
                                Signal(lg, name=f"rot{i}"))
            m.d.sync += [nv.eq(v), nl.eq(last), npad.eq(pad), nword.eq(w), nen.eq(en),
                         nrot.eq(rot)]
            v, last, pad, word, en, rot = nv, nl, npad, nword, nen, nrot
        # ---- last stage: lane j takes element j mod E when the segment writes it -----------
        acc = Signal(data.ArrayLayout(unsigned(bits), simd))
        accp = Signal(simd)
        nxt_acc = Signal.like(acc)
        nxt_pad = Signal.like(accp)
        m.d.comb += [nxt_acc.eq(acc), nxt_pad.eq(accp)]
        with m.If(v):
            for j in range(simd):
                e = j % epw
                with m.If(en[j]):
                    m.d.comb += [nxt_acc[j].eq(Mux(pad, 0, word[e * bits:(e + 1) * bits])),
                                 nxt_pad[j].eq(pad)]
        with m.If(last):
            m.d.sync += [self.lanes.eq(nxt_acc), self.pad.eq(nxt_pad), acc.eq(0), accp.eq(0)]
        with m.Elif(v):
            m.d.sync += [acc.eq(nxt_acc), accp.eq(nxt_pad)]
        m.d.sync += self.out_valid.eq(last)
        return m


def _rotation_stages(epw: int) -> list[range]:
    """The rotation amount's bits per register stage: up to three levels each."""
    lg = max(1, (epw - 1).bit_length())
    return [range(b, min(b + 3, lg)) for b in range(0, lg, 3)] if epw > 1 else []


def assembler_latency(bits: int, mem_bits: int) -> int:
    """The latency of ``LaneAssembler(_, bits, mem_bits)`` without building one."""
    return 2 + len(_rotation_stages(per_word(bits, mem_bits)))
