"""Lane serializer: one ``lanes``-wide vector in, ``groups`` slices of ``lanes / groups``
lanes out on consecutive cycles.

The accumulators finish one PE-wide vector per output pixel, at most once every few cycles
on every layer that matters (a pixel takes one beat per input chunk and digit), so the
epilogue behind them need not be PE lanes wide: a narrower epilogue fed one slice per cycle
keeps up as long as vectors arrive at least ``groups`` cycles apart, which the engine's
beat issuer guarantees (docs/ARCHITECTURE.md "Serial epilogue"). ``valid`` loads the vector
into a shift register; slice ``s`` (lanes ``s * out_lanes ...``) leaves ``s + 1`` cycles
later with ``s_slice = s``. A vector arriving while an earlier one still has slices to send
sets the sticky ``overrun`` flag (a controller bug; tests check it stays low).
"""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_slices


class LaneSerializer(wiring.Component):
    """``fields`` (name -> element shape) of ``lanes`` lanes, sent as ``groups`` slices."""

    def __init__(self, lanes: int, groups: int, fields: dict[str, Shape]) -> None:
        check_slices("LaneSerializer", lanes, groups, fields)
        self.lanes, self.groups, self.out_lanes = lanes, groups, lanes // groups
        self.fields = dict(fields)
        sig = {"valid": In(1), "s_valid": Out(1), "s_slice": Out(range(groups)),
               "overrun": Out(1)}
        for name, shape in self.fields.items():
            sig[name] = In(data.ArrayLayout(shape, lanes))
            sig[f"s_{name}"] = Out(data.ArrayLayout(shape, self.out_lanes))
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        n, e = self.groups, self.out_lanes
        active = Signal()
        cnt = Signal(range(n))
        last = cnt == n - 1
        m.d.comb += [self.s_valid.eq(active), self.s_slice.eq(cnt)]
        for name, shape in self.fields.items():
            hold = Signal(data.ArrayLayout(shape, self.lanes), name=f"hold_{name}")
            src = getattr(self, name)
            with m.If(self.valid):
                m.d.sync += hold.eq(src)
            with m.Elif(active):  # shift down by one slice
                for i in range(self.lanes - e):
                    m.d.sync += hold[i].eq(hold[i + e])
            for i in range(e):
                m.d.comb += getattr(self, f"s_{name}")[i].eq(hold[i])
        with m.If(self.valid):
            m.d.sync += [active.eq(1), cnt.eq(0)]
            with m.If(active & ~last):
                m.d.sync += self.overrun.eq(1)
        with m.Elif(active):
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(last):
                m.d.sync += [active.eq(0), cnt.eq(0)]
        return m
