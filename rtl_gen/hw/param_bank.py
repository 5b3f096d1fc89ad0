"""Parameter bank: the per-channel parameters of one output-channel group, double buffered.

The loader writes 64-bit slots into the *shadow* registers (channel ``w_chan``, field
``w_field``, each kept to its own width); ``copy`` moves the whole shadow into the *active*
registers in one cycle (``copy_latency`` cycles after it is offered), which the datapath
reads for the whole group. Copying instead of
muxing two banks costs only flip-flops: the controller copies between groups, when the
epilogue has drained, while the loader fills the shadow for the next group.

Each channel is a module of its own (:class:`ParamChannel`) that registers the write port
(data, enable, field) and the copy strobe: the loader's slot register otherwise drives
every shadow register of the bank, a net across the device (12.7 ns on a routed 4 x 8
engine), and the copy strobe every active register (one 14.7 ns net). Each field of a
channel is a module too (:class:`ParamField`) that registers the channel's copy strobe
again: one channel's strobe into all its fields' active registers, spread beside the
epilogue's selects of each field, was a 13.3 ns net (session 12). A write's field enable
is a flip-flop at both ends of its way to the field: decoded and registered in the
channel, registered again in the field, beside the shadow it loads (the decode into 40
shadow enables across the device was the routed critical path, 11.4 ns, and the latest
1,341 of the engine's 3,927 endpoints late at 150 MHz, session 13). A write lands three
cycles after it is offered; the loader reports the shadow full several cycles after its
last write, and a write offered on the cycle of ``copy`` or later does not reach that
copy.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_int


class ParamBank(wiring.Component):
    """``lanes`` channels x ``fields`` (name, signed width) parameters."""

    copy_latency = 3  # cycles from ``copy`` to the active registers' new values

    def __init__(self, lanes: int, fields: list[tuple[str, int]]) -> None:
        check_int("ParamBank", "lanes", lanes, 1, 1024)
        if not fields:
            raise ValueError("ParamBank needs at least one field")
        for name, bits in fields:
            check_int("ParamBank", f"width of {name}", bits, 1, 64)
        self.lanes, self.fields = lanes, list(fields)
        sig = {"w_en": In(1), "w_chan": In(range(lanes)), "w_field": In(range(len(fields))),
               "w_data": In(64), "copy": In(1)}
        for name, bits in fields:
            sig[name] = Out(data.ArrayLayout(signed(bits), lanes))
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        for c in range(self.lanes):
            ch = ParamChannel(c, self.lanes, self.fields)
            m.submodules[f"ch{c}"] = ch
            m.d.comb += [ch.w_en.eq(self.w_en), ch.w_chan.eq(self.w_chan),
                         ch.w_field.eq(self.w_field), ch.w_data.eq(self.w_data[:ch.wide]),
                         ch.copy.eq(self.copy)]
            for name, _ in self.fields:
                m.d.comb += getattr(self, name)[c].eq(getattr(ch, name))
        return m


class ParamChannel(wiring.Component):
    """Channel ``chan`` of a :class:`ParamBank`: its write port (enable, field, data) and
    its copy strobe registered inside this module, so they are the channel's own flip-flops
    (Yosys merges identical registers within a module, not across modules) and each drives
    one channel's registers, beside them."""

    def __init__(self, chan: int, lanes: int, fields: list[tuple[str, int]]) -> None:
        check_int("ParamChannel", "chan", chan, 0, lanes - 1)
        self.chan, self.fields = chan, list(fields)
        self.wide = max(bits for _, bits in fields)
        sig = {"w_en": In(1), "w_chan": In(range(lanes)), "w_field": In(range(len(fields))),
               "w_data": In(self.wide), "copy": In(1)}
        for name, bits in fields:
            sig[name] = Out(signed(bits))
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        en, field = Signal(name="wen"), Signal.like(self.w_field, name="wfield")
        wd = [Signal(self.wide, name=f"wdata{k}", reset_less=True) for k in range(3)]
        copy = Signal(name="copy_r")
        m.d.sync += [en.eq(self.w_en & (self.w_chan == self.chan)), field.eq(self.w_field),
                     wd[0].eq(self.w_data), wd[1].eq(wd[0]), wd[2].eq(wd[1]),
                     copy.eq(self.copy)]
        for f, (name, bits) in enumerate(self.fields):
            pf = ParamField(bits)
            m.submodules[f"f_{name}"] = pf
            fen = Signal(name=f"fen_{name}")  # the field's decoded enable, a flip-flop
            m.d.sync += fen.eq(en & (field == f))
            m.d.comb += [pf.w_en.eq(fen), pf.w_data.eq(wd[2][:bits]),
                         pf.copy.eq(copy), getattr(self, name).eq(pf.value)]
        return m


class ParamField(wiring.Component):
    """One field of one channel: its shadow register (written a cycle after ``w_en``, with
    the ``w_data`` of that cycle) and active register (the shadow, a cycle after ``copy``):
    both strobes are registered here, so each field's enables are its own flip-flops
    beside it."""

    def __init__(self, bits: int) -> None:
        check_int("ParamField", "bits", bits, 1, 64)
        self.bits = bits
        super().__init__({"w_en": In(1), "w_data": In(bits), "copy": In(1),
                          "value": Out(signed(bits))})

    def elaborate(self, platform) -> Module:
        m = Module()
        # data only (written before it is read), so no reset: the engine's reset then
        # reaches far fewer flip-flops (docs/ARCHITECTURE.md "Timing")
        sh = Signal(signed(self.bits), name="sh", reset_less=True)
        act = Signal(signed(self.bits), name="act", reset_less=True)
        copy, wen = Signal(name="copy_f"), Signal(name="wen_f")
        m.d.sync += [copy.eq(self.copy), wen.eq(self.w_en)]
        with m.If(wen):
            m.d.sync += sh.eq(self.w_data)
        with m.If(copy):
            m.d.sync += act.eq(sh)
        m.d.comb += self.value.eq(act)
        return m
