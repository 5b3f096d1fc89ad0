"""Lane deserializer: ``groups`` slices of ``lanes / groups`` lanes in, tagged with their
slice index, one ``lanes``-wide vector out (the inverse of
:class:`~rtl_gen.hw.lane_serializer.LaneSerializer`, behind the serial epilogue).

Slices of one vector arrive in order ``0 .. groups - 1`` (not necessarily on consecutive
cycles); the vector leaves, registered, the cycle after its last slice.
"""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_slices


class LaneDeserializer(wiring.Component):
    """``fields`` (name -> element shape) collected into ``lanes`` lanes."""

    def __init__(self, lanes: int, groups: int, fields: dict[str, Shape]) -> None:
        check_slices("LaneDeserializer", lanes, groups, fields)
        self.lanes, self.groups, self.in_lanes = lanes, groups, lanes // groups
        self.fields = dict(fields)
        sig = {"valid": In(1), "slice": In(range(groups)), "out_valid": Out(1)}
        for name, shape in self.fields.items():
            sig[f"s_{name}"] = In(data.ArrayLayout(shape, self.in_lanes))
            sig[name] = Out(data.ArrayLayout(shape, lanes))
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        n, e = self.groups, self.in_lanes
        done = self.valid & (self.slice == n - 1)
        m.d.sync += self.out_valid.eq(done)
        for name, shape in self.fields.items():
            new = getattr(self, f"s_{name}")
            out = getattr(self, name)
            # the first n - 1 slices, the newest at the top (slice 0 at the bottom when full)
            part = Signal(data.ArrayLayout(shape, self.lanes - e), name=f"part_{name}")
            with m.If(done):
                for i in range(self.lanes - e):
                    m.d.sync += out[i].eq(part[i])
                for i in range(e):
                    m.d.sync += out[self.lanes - e + i].eq(new[i])
            with m.Elif(self.valid & (n > 1)):
                for i in range(self.lanes - 2 * e):
                    m.d.sync += part[i].eq(part[i + e])
                for i in range(e if n > 1 else 0):
                    m.d.sync += part[self.lanes - 2 * e + i].eq(new[i])
        return m
