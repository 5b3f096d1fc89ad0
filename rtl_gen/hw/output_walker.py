"""Output walker: where each result row of a layer goes, for every tensor the layer writes.

Results leave the engine in computation order, (output-channel group, pixel) with the
pixel innermost; every ``pop`` (one row taken by the row writers) advances the walk, which
``go`` restarts. ``busy`` stays high from ``go`` until the last group's last pixel is taken.
Per written tensor ``i`` (rtl_gen/compile/image.py layout, its descriptor fields
``wr<i>_*``) it keeps the row's word address relative to the tensor's base as
``pix_off + word_off``, and its first element slot within the word:

- ``pix_off`` steps by the words per pixel ``wpp`` each pixel and restarts each group;
- at a group's end, a tensor whose groups fill whole words steps ``word_off`` by the
  group's ``gwords``; otherwise (``gwords = 0``, several groups share a word of ``epw``
  elements) ``slot`` steps by ``lanes``, to the next word's slot 0 once the word is full.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_int, check_ints, wrap_counter
from rtl_gen.hw.pipelined import BOUND_LATENCY, area_m1


class OutputWalker(wiring.Component):
    """``go`` restarts, ``pop`` advances one pixel; per tensor ``i`` (``epws[i]`` elements per
    word) the row's ``wr<i>_pix_off``, ``wr<i>_word_off`` and ``wr<i>_slot``."""

    settle = BOUND_LATENCY  # cycles the descriptor fields must be stable before ``go``

    def __init__(self, lanes: int, epws: tuple[int, ...] | list[int], addr_bits: int,
                 dim_bits: int = 12, desc_bits: int = 32) -> None:
        check_ints("OutputWalker", lanes=(lanes, 1, 1024), writers=(len(epws), 0, 64),
                   addr_bits=(addr_bits, 8, 48), dim_bits=(dim_bits, 4, 16),
                   desc_bits=(desc_bits, dim_bits, 64))
        for i, epw in enumerate(epws):
            check_int("OutputWalker", f"epws[{i}]", epw, 1, 1 << 16)
        self.lanes, self.epws, self.dim_bits = lanes, tuple(epws), dim_bits
        sig = {"go": In(1), "pop": In(1), "busy": Out(1),
               "oh": In(desc_bits), "ow": In(desc_bits), "groups": In(desc_bits)}
        for i, epw in enumerate(self.epws):
            sig |= {f"wr{i}_wpp": In(desc_bits), f"wr{i}_gwords": In(desc_bits),
                    f"wr{i}_epw": In(desc_bits), f"wr{i}_pix_off": Out(addr_bits),
                    f"wr{i}_word_off": Out(addr_bits), f"wr{i}_slot": Out(range(epw))}
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        dim = self.dim_bits
        og, pix = Signal(dim, name="og"), Signal(2 * dim, name="pix")
        # the layer's last pixel, through a registered multiply: no multiplier in the walk's
        # timing paths (``oh``, ``ow`` are descriptor fields, set well before ``go``)
        npix_m1 = area_m1(m, self.oh, self.ow, dim, name="npix")
        groups_m1 = Signal(dim + 4)
        m.d.sync += groups_m1.eq(self.groups - 1)
        # registered "at the last pixel / group" flags: the pop's enables stay shallow
        last_pix = wrap_counter(m, pix, npix_m1, self.pop, self.go)
        last_og = wrap_counter(m, og, groups_m1, self.pop & last_pix, self.go)
        for i in range(len(self.epws)):
            pix_off, word_off, slot = (getattr(self, f"wr{i}_{n}")
                                       for n in ("pix_off", "word_off", "slot"))
            wpp, gwords, epw = (getattr(self, f"wr{i}_{n}") for n in ("wpp", "gwords", "epw"))
            with m.If(self.go):
                m.d.sync += [pix_off.eq(0), word_off.eq(0), slot.eq(0)]
            with m.Elif(self.pop):
                m.d.sync += pix_off.eq(pix_off + wpp)
                with m.If(last_pix):
                    m.d.sync += pix_off.eq(0)
                    with m.If(gwords != 0):
                        m.d.sync += word_off.eq(word_off + gwords)
                    with m.Elif(slot + self.lanes == epw):
                        m.d.sync += [slot.eq(0), word_off.eq(word_off + 1)]
                    with m.Else():
                        m.d.sync += slot.eq(slot + self.lanes)
        with m.If(self.go):
            m.d.sync += self.busy.eq(1)
        with m.Elif(self.pop & last_pix & last_og):
            m.d.sync += self.busy.eq(0)
        return m
