"""Skid buffer: a register slice for a valid/ready stream.

Every output (``out_valid``, ``out_data``) and ``in_ready`` comes from a register, so no
combinational path crosses it in either direction, and it still passes one item per cycle:
when the consumer stalls, the item already accepted waits in a second ("skid") register
and ``in_ready`` drops the next cycle. Used where a producer's handshake logic would
otherwise chain into its consumer's (docs/ARCHITECTURE.md "Timing").

``late_ready=True`` builds the same buffer, cycle for cycle, for a consumer whose
``out_ready`` comes late in the cycle (an arbiter's grant): the two items sit in two
registers that follow the input while free, ``out_data`` is a select of the two by a
read pointer, and ``out_ready`` moves only the pointer and the flags, where the output
register's enable (``out_ready | ~out_valid``) spans the item's width (the arbiter's
grant into a request's 70 enables was a routed critical path, session 10). The two
registers are cut into slices of at most :data:`SLICE` bits (:class:`SkidSlice`
modules), each with its own copies of the pointers and "held" flags, so no pointer
drives more than one slice's selects and enables (one read pointer into the arbiter's
70-bit select, placed by the memory port, was a 7.2 ns net, session 12).

``next_valid`` is what ``out_valid`` becomes at the next clock edge (combinational), for a
consumer that registers a decision on it a cycle ahead (the arbiter's grant).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints, spans

#: widest slice of a ``late_ready`` buffer's registers behind one copy of its pointers
SLICE = 32


class SkidBuffer(wiring.Component):
    """``width``-bit items in (``in_*``) and out (``out_*``); latency 1."""

    def __init__(self, width: int, late_ready: bool = False) -> None:
        check_ints("SkidBuffer", width=(width, 1, 4096))
        self.width, self.late_ready = width, bool(late_ready)
        super().__init__({
            "in_valid": In(1), "in_ready": Out(1), "in_data": In(width),
            "out_valid": Out(1), "out_ready": In(1), "out_data": Out(width),
            "next_valid": Out(1),
        })

    def elaborate(self, platform) -> Module:
        if self.late_ready:
            return self._two_entries()
        m = Module()
        skid_v = Signal()
        skid_d = Signal(self.width, reset_less=True)  # data: valid only with skid_v
        out_d = Signal(self.width, reset_less=True)
        m.d.comb += self.out_data.eq(out_d)
        m.d.comb += self.in_ready.eq(~skid_v)
        m.d.comb += self.next_valid.eq(Mux(self.out_ready | ~self.out_valid,
                                           skid_v | self.in_valid, self.out_valid))
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

    def _two_entries(self) -> Module:
        m = Module()
        take_in, take_out = Signal(), Signal()
        m.d.comb += [take_in.eq(self.in_valid & self.in_ready),
                     take_out.eq(self.out_valid & self.out_ready)]
        for lo, hi in spans(self.width, SLICE):
            sl = SkidSlice(hi - lo)
            m.submodules[f"s{lo}"] = sl
            m.d.comb += [sl.take_in.eq(take_in), sl.take_out.eq(take_out),
                         sl.in_data.eq(self.in_data[lo:hi]),
                         self.out_data[lo:hi].eq(sl.out_data)]
        # the flags: at least one item / fewer than two, as the one-register buffer's
        in_ready = Signal(init=1)
        m.d.comb += self.in_ready.eq(in_ready)
        m.d.comb += self.next_valid.eq(take_in | Mux(take_out, ~in_ready, self.out_valid))
        m.d.sync += [self.out_valid.eq(self.next_valid),
                     in_ready.eq(take_out | Mux(take_in, ~self.out_valid, in_ready))]
        return m


class SkidSlice(wiring.Component):
    """``width`` bits of a ``late_ready`` :class:`SkidBuffer`'s two entries, with this
    slice's own write / read pointers and "held" flags (a module of its own, so the copies
    stay apart in synthesis); ``take_in`` / ``take_out`` are the buffer's handshakes."""

    def __init__(self, width: int) -> None:
        check_ints("SkidSlice", width=(width, 1, 4096))
        self.width = width
        super().__init__({"take_in": In(1), "take_out": In(1), "in_data": In(width),
                          "out_data": Out(width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        e = [Signal(self.width, name=f"e{k}", reset_less=True) for k in range(2)]
        held = [Signal(name=f"held{k}") for k in range(2)]
        wp, rp = Signal(name="wp"), Signal(name="rp")
        m.d.comb += self.out_data.eq(Mux(rp, e[1], e[0]))
        for k in range(2):
            with m.If(~held[k]):  # a free entry follows the input (its enable a register)
                m.d.sync += e[k].eq(self.in_data)
        m.d.sync += [wp.eq(wp ^ self.take_in), rp.eq(rp ^ self.take_out)]
        for k in range(2):  # the entries taken in and out differ (or nothing is taken)
            m.d.sync += held[k].eq((held[k] & ~(self.take_out & (rp == k)))
                                   | (self.take_in & (wp == k)))
        return m
