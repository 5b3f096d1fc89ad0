"""Output walker: where each result row of a layer goes, for every tensor the layer writes.

Results leave the engine in computation order, (output-channel group, pixel) with the
pixel innermost; every ``pop`` advances the walk, which ``go`` restarts (the engine pops
ahead of the rows: each row's writer inputs wait in a small queue). ``busy`` stays high
from ``go`` until the last group's last pixel is popped.
Per written tensor ``i`` (rtl_gen/compile/image.py layout, its descriptor fields
``wr<i>_*``) it keeps the group's word offset ``word_off`` from the tensor's base, the row's
absolute word address ``addr = base + word_off + pixel * wpp`` (a register stepped by
``wpp``, so no adder stands between the walker and the writer), and the row's first
element slot within the word:

- ``addr`` steps by the words per pixel ``wpp`` each pixel and restarts at the group's
  first row;
- at a group's end, a tensor whose groups fill whole words steps ``word_off`` by the
  group's ``gwords``; otherwise (``gwords = 0``, several groups share a word of ``epw``
  elements) ``slot`` steps by ``lanes``, to the next word's slot 0 once the word is full.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import WRAP_SETTLE, check_int, check_ints, wrap_counter
from rtl_gen.hw.pipelined import BOUND_LATENCY, area_m1, reg


class OutputWalker(wiring.Component):
    """``go`` restarts, ``pop`` advances one pixel; per tensor ``i`` (``epws[i]`` elements per
    word) the row's ``wr<i>_word_off``, ``wr<i>_slot`` and absolute ``wr<i>_addr`` (from the tensor's ``wr<i>_base``)."""

    settle = BOUND_LATENCY + WRAP_SETTLE  # cycles the descriptor fields must be stable before ``go``

    def __init__(self, lanes: int, epws: tuple[int, ...] | list[int], addr_bits: int,
                 dim_bits: int = 12, desc_bits: int = 32) -> None:
        check_ints("OutputWalker", lanes=(lanes, 1, 1024), writers=(len(epws), 0, 64),
                   addr_bits=(addr_bits, 8, 48), dim_bits=(dim_bits, 4, 16),
                   desc_bits=(desc_bits, dim_bits, 64))
        for i, epw in enumerate(epws):
            check_int("OutputWalker", f"epws[{i}]", epw, 1, 1 << 16)
        self.lanes, self.epws, self.dim_bits = lanes, tuple(epws), dim_bits
        self.addr_bits = addr_bits
        sig = {"go": In(1), "pop": In(1), "busy": Out(1),
               "oh": In(desc_bits), "ow": In(desc_bits), "groups": In(desc_bits)}
        for i, epw in enumerate(self.epws):
            sig |= {f"wr{i}_wpp": In(desc_bits), f"wr{i}_gwords": In(desc_bits),
                    f"wr{i}_epw": In(desc_bits), f"wr{i}_base": In(desc_bits),
                    f"wr{i}_word_off": Out(addr_bits),
                    f"wr{i}_addr": Out(addr_bits), f"wr{i}_slot": Out(range(epw))}
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
        lanes = self.lanes
        for i, epw_max in enumerate(self.epws):
            word_off, slot, addr = (getattr(self, f"wr{i}_{n}")
                                    for n in ("word_off", "slot", "addr"))
            wpp, gwords, epw, base = (getattr(self, f"wr{i}_{n}")
                                      for n in ("wpp", "gwords", "epw", "base"))
            # the group step as one addend: gwords, or 1 when the shared word is full (a
            # "slot + lanes == epw" flag set with the slot), or 0; the layer's flags and
            # the row address of the group's first pixel are registers
            nb = (epw_max + 2 * lanes).bit_length()
            gw_nz = reg(m, gwords != 0, f"wr{i}_gw_nz", 1)
            wrap0 = reg(m, epw[:nb] == lanes, f"wr{i}_wrap0", 1)
            full = Signal(name=f"wr{i}_full")  # slot + lanes == epw
            gaddr = Signal(self.addr_bits, name=f"wr{i}_gaddr")  # base + word_off
            gstep = Signal(self.addr_bits, name=f"wr{i}_gstep")
            m.d.comb += gstep.eq(Mux(gw_nz, gwords, full))
            with m.If(self.go):
                m.d.sync += [word_off.eq(0), slot.eq(0), full.eq(wrap0),
                             gaddr.eq(base), addr.eq(base)]
            with m.Elif(self.pop):
                m.d.sync += addr.eq(addr + wpp)
                with m.If(last_pix):
                    m.d.sync += [word_off.eq(word_off + gstep),
                                 gaddr.eq(gaddr + gstep), addr.eq(gaddr + gstep)]
                    with m.If(~gw_nz):
                        with m.If(full):
                            m.d.sync += [slot.eq(0), full.eq(wrap0)]
                        with m.Else():
                            m.d.sync += [slot.eq(slot + lanes),
                                         full.eq(slot + 2 * lanes == epw[:nb])]
        with m.If(self.go):
            m.d.sync += self.busy.eq(1)
        with m.Elif(self.pop & last_pix & last_og):
            m.d.sync += self.busy.eq(0)
        return m
