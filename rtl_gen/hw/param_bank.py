"""Parameter bank: the per-channel parameters of one output-channel group, double buffered.

The loader writes 64-bit slots into the *shadow* registers (channel ``w_chan``, field
``w_field``, each kept to its own width); ``copy`` moves the whole shadow into the *active*
registers in one cycle, which the datapath reads for the whole group. Copying instead of
muxing two banks costs only flip-flops: the controller copies between groups, when the
epilogue has drained, while the loader fills the shadow for the next group.

The write port is registered once per channel (data, enable, field): the loader's slot
register otherwise drives every shadow register of the bank, a net across the device (12.7
ns on a routed 4 x 8 engine). A write lands one cycle after it is offered; the loader
reports the shadow full several cycles after its last write.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_int


class ParamBank(wiring.Component):
    """``lanes`` channels x ``fields`` (name, signed width) parameters."""

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
        wide = max(bits for _, bits in self.fields)
        ports = []
        for c in range(self.lanes):  # the registered write port, one copy per channel
            en, field = Signal(name=f"wen_{c}"), Signal.like(self.w_field, name=f"wfield_{c}")
            wd = Signal(wide, name=f"wdata_{c}", reset_less=True)
            m.d.sync += [en.eq(self.w_en & (self.w_chan == c)), field.eq(self.w_field),
                         wd.eq(self.w_data[:wide])]
            ports.append((en, field, wd))
        for f, (name, bits) in enumerate(self.fields):
            out = getattr(self, name)
            for c in range(self.lanes):
                # data only (written before it is read), so no reset: the engine's reset
                # then reaches far fewer flip-flops (docs/ARCHITECTURE.md "Timing")
                sh = Signal(signed(bits), name=f"sh_{name}_{c}", reset_less=True)
                act = Signal(signed(bits), name=f"act_{name}_{c}", reset_less=True)
                en, field, wd = ports[c]
                with m.If(en & (field == f)):
                    m.d.sync += sh.eq(wd[:bits])
                with m.If(self.copy):
                    m.d.sync += act.eq(sh)
                m.d.comb += out[c].eq(act)
        return m
