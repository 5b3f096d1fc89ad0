"""Residual walker: the engine's residual fetch commands of one layer.

A layer that adds a residual (``res_en``) reads it in the order the outputs are computed:
after ``go`` one command per ``cmd_ready`` cycle for every (output-channel group, output
row, output column), innermost last, each the ``n = min(o - c0, lanes)`` channels from
``c0 = og * lanes`` of one pixel of the residual tensor (a 1 x 1 window at ``(oy, ox)``),
and stops after the last group. Without ``res_en`` it issues nothing.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import WRAP_SETTLE, check_ints, wrap_counter


class ResidualWalker(wiring.Component):
    """``go`` restarts the walk; commands out (``cmd_valid``/``cmd_ready``) of ``lanes``
    channels; ``desc_bits``-wide descriptor fields."""

    settle = 1 + WRAP_SETTLE  # cycles the descriptor fields must be stable before ``go``

    def __init__(self, lanes: int, dim_bits: int = 12, desc_bits: int = 32) -> None:
        check_ints("ResidualWalker", lanes=(lanes, 1, 1024), dim_bits=(dim_bits, 4, 16),
                   desc_bits=(desc_bits, dim_bits, 64))
        self.lanes, self.dim_bits = lanes, dim_bits
        dim = dim_bits
        super().__init__({
            "go": In(1),
            # descriptor fields
            "res_en": In(1), "o": In(desc_bits), "oh": In(desc_bits), "ow": In(desc_bits),
            "groups": In(desc_bits),
            # fetch command: pixel (iy0, ix0), channels c0 .. c0 + n - 1
            "cmd_valid": Out(1), "cmd_ready": In(1), "iy0": Out(dim), "ix0": Out(dim),
            "c0": Out(dim + 1), "n": Out(range(lanes + 1)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        dim = self.dim_bits
        og, oy, ox, c0 = Signal(dim, name="og"), self.iy0, self.ix0, self.c0
        # the loop bounds less one, registered (descriptor fields, set well before go)
        ow_m1, oh_m1, groups_m1 = (Signal(dim + 4, name=f"{n}_m1") for n in ("ow", "oh",
                                                                            "groups"))
        m.d.sync += [ow_m1.eq(self.ow - 1), oh_m1.eq(self.oh - 1),
                     groups_m1.eq(self.groups - 1)]
        room = Signal(signed(dim + 2))  # channels left from c0
        m.d.comb += [room.eq(self.o - c0),
                     self.n.eq(Mux(room < self.lanes, room, self.lanes))]
        step = self.cmd_valid & self.cmd_ready
        last_ox = wrap_counter(m, ox, ow_m1, step, self.go)
        last_oy = wrap_counter(m, oy, oh_m1, step & last_ox, self.go)
        last_og = wrap_counter(m, og, groups_m1, step & last_ox & last_oy, self.go)
        with m.If(self.go):
            m.d.sync += [self.cmd_valid.eq(self.res_en), c0.eq(0)]
        with m.Elif(step & last_ox & last_oy):
            m.d.sync += c0.eq(c0 + self.lanes)
            with m.If(last_og):
                m.d.sync += self.cmd_valid.eq(0)
        return m
