"""Segment generator: the address half of the fetch contract (rtl_gen/compile/fetch.py).

For one chunk command (the window origin ``iy0 = oy*s - p``, ``ix0 = ox*s - p``, the first
term's window position ``ky0, kx0`` and channel ``c0``, and ``n`` lanes) it emits one segment
per cycle: lanes at a window position outside the image as one pad segment, inside as runs
of at most ``E - e`` elements from one word (``E`` elements per word), in lane order, the
chunk's last segment flagged ``last``. Positions advance ``(ky, kx)`` row-major, channels
restart at 0, so no division is needed; the next command is taken in the cycle the
current chunk's last segment leaves (``idle`` then), so one-segment chunks stream at one per
cycle; the pixel address is ``(y * W + x) * words_per_pixel``
from one multiplier. Layer constants (``cin``, ``k``, ``H``, ``W``, ``E``, words per pixel) are
held by the caller.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class SegmentGenerator(wiring.Component):
    """Chunk commands in (``start`` when ``idle``), segments out (``valid``/``ready``)."""

    def __init__(self, simd: int, addr_bits: int = 24, dim_bits: int = 12) -> None:
        check_ints("SegmentGenerator", simd=(simd, 1, 1024), addr_bits=(addr_bits, 8, 40),
                   dim_bits=(dim_bits, 4, 16))
        self.simd = simd
        lane = range(simd + 1)
        dim, sdim = dim_bits, signed(dim_bits + 1)
        super().__init__({
            # layer constants
            "cin": In(dim), "k": In(dim), "h": In(dim), "w": In(dim), "epw": In(8),
            "wpp": In(dim), "base": In(addr_bits),
            # chunk command
            "start": In(1), "iy0": In(sdim), "ix0": In(sdim), "ky0": In(dim), "kx0": In(dim),
            "c0": In(dim), "n": In(lane),
            "idle": Out(1),
            # segment out
            "valid": Out(1), "ready": In(1), "last": Out(1), "is_pad": Out(1),
            "addr": Out(addr_bits), "lane0": Out(lane), "count": Out(lane), "e0": Out(8),
        })
        self.dim_bits, self.addr_bits = dim_bits, addr_bits

    def elaborate(self, platform) -> Module:
        m = Module()
        d = self.dim_bits
        busy = Signal()
        ky, kx, c = Signal(d), Signal(d), Signal(d)
        iy0, ix0 = Signal(signed(d + 1)), Signal(signed(d + 1))
        lane, left = Signal(range(self.simd + 1)), Signal(range(self.simd + 1))
        e, widx = Signal(8), Signal(d)
        y, x = Signal(signed(d + 2)), Signal(signed(d + 2))
        m.d.comb += [y.eq(iy0 + ky), x.eq(ix0 + kx)]
        inside = (y >= 0) & (y < self.h) & (x >= 0) & (x < self.w)
        run = Signal(range(self.simd + 1))
        m.d.comb += run.eq(left)
        with m.If(self.cin - c < left):
            m.d.comb += run.eq(self.cin - c)
        fit = Signal(range(self.simd + 1))
        m.d.comb += fit.eq(run)
        with m.If(inside & (self.epw - e < run)):
            m.d.comb += fit.eq(self.epw - e)
        pixel = Signal(self.addr_bits)
        m.d.comb += pixel.eq((y.as_unsigned()[:d] * self.w + x.as_unsigned()[:d]) * self.wpp)
        ending = busy & self.ready & (fit == left)
        m.d.comb += [
            self.idle.eq(~busy | ending), self.valid.eq(busy), self.is_pad.eq(~inside),
            self.addr.eq(self.base + pixel + widx), self.lane0.eq(lane), self.count.eq(fit),
            self.e0.eq(e), self.last.eq(fit == left),
        ]
        with m.If(self.idle & self.start):
            m.d.sync += [busy.eq(self.n != 0), ky.eq(self.ky0), kx.eq(self.kx0), c.eq(self.c0),
                         iy0.eq(self.iy0), ix0.eq(self.ix0), lane.eq(0), left.eq(self.n)]
            # the first element's word and slot within its pixel
            m.d.sync += [e.eq(self.c0 % self.epw), widx.eq(self.c0 // self.epw)]
        with m.Elif(busy & self.ready):
            m.d.sync += [lane.eq(lane + fit), left.eq(left - fit)]
            with m.If(fit == left):
                m.d.sync += busy.eq(0)
            with m.If(fit == run):  # this window position is done: next one, channel 0
                m.d.sync += [c.eq(0), e.eq(0), widx.eq(0)]
                with m.If(kx + 1 == self.k):
                    m.d.sync += [kx.eq(0), ky.eq(ky + 1)]
                with m.Else():
                    m.d.sync += kx.eq(kx + 1)
            with m.Else():  # the word is used up: next word of the same pixel
                m.d.sync += [c.eq(c + fit), e.eq(0), widx.eq(widx + 1)]
        return m
