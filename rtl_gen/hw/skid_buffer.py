"""Skid buffer: a register slice for a valid/ready stream.

Every output (``out_valid``, ``out_data``) and ``in_ready`` comes from a register, so no
combinational path crosses it in either direction, and it still passes one item per cycle:
when the consumer stalls, the item already accepted waits in a second ("skid") register
and ``in_ready`` drops the next cycle. Used where a producer's handshake logic would
otherwise chain into its consumer's (docs/ARCHITECTURE.md "Timing").
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class SkidBuffer(wiring.Component):
    """``width``-bit items in (``in_*``) and out (``out_*``); latency 1."""

    def __init__(self, width: int) -> None:
        check_ints("SkidBuffer", width=(width, 1, 4096))
        self.width = width
        super().__init__({
            "in_valid": In(1), "in_ready": Out(1), "in_data": In(width),
            "out_valid": Out(1), "out_ready": In(1), "out_data": Out(width),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        skid_v = Signal()
        skid_d = Signal(self.width, reset_less=True)  # data: valid only with skid_v
        out_d = Signal(self.width, reset_less=True)
        m.d.comb += self.out_data.eq(out_d)
        m.d.comb += self.in_ready.eq(~skid_v)
        with m.If(self.out_ready | ~self.out_valid):  # the output register takes a new item
            with m.If(skid_v):
                m.d.sync += [out_d.eq(skid_d), self.out_valid.eq(1), skid_v.eq(0)]
            with m.Else():
                m.d.sync += [out_d.eq(self.in_data), self.out_valid.eq(self.in_valid)]
        with m.Elif(self.in_valid & ~skid_v):  # output held: the accepted item skids
            m.d.sync += skid_v.eq(1)
        # the skid register follows the input while it is free, so its (wide) enable is the
        # register skid_v, not the consumer's late out_ready
        with m.If(~skid_v):
            m.d.sync += skid_d.eq(self.in_data)
        return m
