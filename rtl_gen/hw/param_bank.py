"""Parameter bank: the per-channel parameters of one output-channel group, double buffered.

The loader writes 64-bit slots into the *shadow* registers (channel ``w_chan``, field
``w_field``, each kept to its own width); ``copy`` moves the whole shadow into the *active*
registers in one cycle, which the datapath reads for the whole group. Copying instead of
muxing two banks costs only flip-flops: the controller copies between groups, when the
epilogue has drained, while the loader fills the shadow for the next group.
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
        for f, (name, bits) in enumerate(self.fields):
            out = getattr(self, name)
            for c in range(self.lanes):
                # data only (written before it is read), so no reset: the engine's reset
                # then reaches far fewer flip-flops (docs/ARCHITECTURE.md "Timing")
                sh = Signal(signed(bits), name=f"sh_{name}_{c}", reset_less=True)
                act = Signal(signed(bits), name=f"act_{name}_{c}", reset_less=True)
                with m.If(self.w_en & (self.w_chan == c) & (self.w_field == f)):
                    m.d.sync += sh.eq(self.w_data[:bits])
                with m.If(self.copy):
                    m.d.sync += act.eq(sh)
                m.d.comb += out[c].eq(act)
        return m
