"""Double-buffered on-chip weight buffer: one output-channel group's digit blocks per half.

The compiler's weight stream (rtl_gen/compile/image.py) is a sequence of blocks of
``PE x SIMD`` ``w_bits`` digits, each ``words_per_block`` memory words. The loader writes
words into half ``w_half``, ``words_per_block`` words per block; the array reads a whole
block per cycle from half ``r_half`` by block index (latency 1). The controller keeps the
two apart: the loader fills the next output-channel group's half while the array reads the
current one. Storage is
``words_per_block`` parallel memories of ``mem_bits`` each, so one read returns a block.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.image import per_word, row_words
from rtl_gen.hw.common import check_ints


class WeightBuffer(wiring.Component):
    """``2 x blocks`` blocks of ``pe x simd`` digits; write one word, read one block."""

    latency = 1

    def __init__(self, pe: int, simd: int, w_bits: int, mem_bits: int, blocks: int) -> None:
        check_ints("WeightBuffer", pe=(pe, 1, 1024), simd=(simd, 1, 1024),
                   w_bits=(w_bits, 1, 8), mem_bits=(mem_bits, 8, 512),
                   blocks=(blocks, 1, 1 << 16))
        self.pe, self.simd, self.w_bits, self.mem_bits, self.blocks = (pe, simd, w_bits,
                                                                       mem_bits, blocks)
        self.words = row_words(pe * simd, w_bits, mem_bits)
        self.per_word = per_word(w_bits, mem_bits)
        waddr = range(2 * blocks * self.words)
        super().__init__({
            "w_en": In(1), "w_addr": In(waddr), "w_data": In(mem_bits),  # word within half
            "w_half": In(1), "r_half": In(1),
            "r_en": In(1), "r_block": In(range(blocks)),
            "r_data": Out(data.ArrayLayout(data.ArrayLayout(w_bits, simd), pe)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        depth = 2 * self.blocks
        wsel = Signal(range(self.words))
        wblk = Signal(range(self.blocks))
        m.d.comb += [wsel.eq(self.w_addr % self.words), wblk.eq(self.w_addr // self.words)]
        words = []
        for i in range(self.words):
            mem = memory.Memory(shape=self.mem_bits, depth=depth, init=[])
            m.submodules[f"bank{i}"] = mem
            wp, rp = mem.write_port(), mem.read_port()
            m.d.comb += [wp.addr.eq(self.w_half * self.blocks + wblk),
                         wp.data.eq(self.w_data), wp.en.eq(self.w_en & (wsel == i)),
                         rp.addr.eq(self.r_half * self.blocks + self.r_block),
                         rp.en.eq(self.r_en)]
            words.append(rp.data)
        # element e of the block sits in word e // per_word at bit (e % per_word) * w_bits
        for p in range(self.pe):
            for j in range(self.simd):
                e = p * self.simd + j
                w, b = divmod(e, self.per_word)
                m.d.comb += self.r_data[p][j].eq(words[w][b * self.w_bits:(b + 1) * self.w_bits])
        return m
