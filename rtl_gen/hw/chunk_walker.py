"""Chunk walker: the engine's activation fetch commands of one layer.

After ``go`` it steps through every (output-channel group, output row, output column,
chunk-table entry), innermost last, one fetch command per ``cmd_ready`` cycle, and stops
after the last group. Each entry of the layer's chunk table (read combinationally at
``addr``: ``ky0 | kx0 << 8 | c0 << 16 | n << 32 | phase << 48``, rtl_gen/compile/
descriptor.py) becomes a command for the window at ``iy0 = oy * stride - pad``,
``ix0 = ox * stride - pad``, with the entry's channel offset by the group's first channel
(``og * chan_step``: pools walk the channels group by group, convolutions read every
channel each group). A pool's last channel group may hold fewer than a chunk's channels:
``n`` is then clipped to ``cin - c0``. ``first``/``last`` flag a pixel's first and last
chunk, ``phase`` is the entry's pad phase; the engine packs them into the fetch tag.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class ChunkWalker(wiring.Component):
    """``go`` restarts the walk; commands out (``cmd_valid``/``cmd_ready``) for ``simd``
    lanes from a ``chunk_depth``-entry table; ``desc_bits``-wide descriptor fields."""

    def __init__(self, simd: int, chunk_depth: int, dim_bits: int = 12,
                 desc_bits: int = 32) -> None:
        check_ints("ChunkWalker", simd=(simd, 1, 1024), chunk_depth=(chunk_depth, 1, 1 << 16),
                   dim_bits=(dim_bits, 4, 16), desc_bits=(desc_bits, dim_bits, 64))
        self.simd, self.chunk_depth, self.dim_bits = simd, chunk_depth, dim_bits
        dim, sdim = dim_bits, signed(dim_bits + 1)
        super().__init__({
            "go": In(1),
            # descriptor fields
            "pad": In(desc_bits), "stride": In(desc_bits), "cin": In(desc_bits),
            "chan_step": In(desc_bits), "chunks": In(desc_bits), "ow": In(desc_bits),
            "oh": In(desc_bits), "groups": In(desc_bits),
            # chunk table read (combinational)
            "addr": Out(range(chunk_depth + 1)), "entry": In(64),
            # fetch command
            "cmd_valid": Out(1), "cmd_ready": In(1), "iy0": Out(sdim), "ix0": Out(sdim),
            "ky0": Out(8), "kx0": Out(8), "c0": Out(dim + 1), "n": Out(range(simd + 1)),
            "first": Out(1), "last": Out(1), "phase": Out(2),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        dim = self.dim_bits
        kc = Signal(range(self.chunk_depth + 1))  # the entry
        og, oy, ox = Signal(dim), Signal(dim), Signal(dim)
        cbase = Signal(dim)  # the group's first channel
        ent = self.entry
        room = Signal(signed(dim + 2))  # channels left from c0
        m.d.comb += [
            self.addr.eq(kc),
            self.c0.eq(ent[16:32] + cbase), room.eq(self.cin - self.c0),
            self.n.eq(Mux((self.chan_step != 0) & (room < ent[32:48]), room, ent[32:48])),
            self.ky0.eq(ent[0:8]), self.kx0.eq(ent[8:16]), self.phase.eq(ent[48:50]),
            self.first.eq(kc == 0), self.last.eq(kc == self.chunks - 1),
        ]
        with m.If(self.go):
            m.d.sync += [self.cmd_valid.eq(1), kc.eq(0), og.eq(0), oy.eq(0), ox.eq(0),
                         self.iy0.eq(-self.pad), self.ix0.eq(-self.pad), cbase.eq(0)]
        with m.Elif(self.cmd_valid & self.cmd_ready):
            m.d.sync += kc.eq(kc + 1)
            with m.If(self.last):
                m.d.sync += [kc.eq(0), ox.eq(ox + 1), self.ix0.eq(self.ix0 + self.stride)]
                with m.If(ox == self.ow - 1):
                    m.d.sync += [ox.eq(0), self.ix0.eq(-self.pad), oy.eq(oy + 1),
                                 self.iy0.eq(self.iy0 + self.stride)]
                    with m.If(oy == self.oh - 1):
                        m.d.sync += [oy.eq(0), self.iy0.eq(-self.pad), og.eq(og + 1),
                                     cbase.eq(cbase + self.chan_step)]
                        with m.If(og == self.groups - 1):
                            m.d.sync += self.cmd_valid.eq(0)
        return m
