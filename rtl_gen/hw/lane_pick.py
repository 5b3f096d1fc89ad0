"""One lane's element from the fetch unit's lane assemblers, with its own copy of the width
select.

The fetch unit has one lane assembler per input element width and takes each lane from the
one the layer uses (``sel``, a layer constant). One shared one-hot ``sel`` register drove
every lane's select, a net across the lane queues (9.8 ns in one route of the 4 x 8 engine,
session 13). A :class:`LanePick` registers its own copy (a module of its own: Yosys merges
identical registers within a module, not across modules), so each copy drives one lane's
select, beside it; the latency from ``sel`` is the one cycle the shared register had.
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class LanePick(wiring.Component):
    """``out`` = ``opts[s]`` for the ``sel`` ``s`` of the previous cycle (``opts`` live,
    ``sel`` a layer constant held a cycle ahead)."""

    def __init__(self, width: int, n: int) -> None:
        check_ints("LanePick", width=(width, 1, 4096), n=(n, 1, 64))
        self.width, self.n = width, n
        super().__init__({"opts": In(data.ArrayLayout(width, n)), "sel": In(range(n)),
                          "out": Out(width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        one_hot = Signal(self.n, name="sel1h")
        m.d.sync += one_hot.eq(1 << self.sel)
        picked = [Mux(one_hot[i], self.opts[i], 0) for i in range(self.n)]
        m.d.comb += self.out.eq(functools.reduce(operator.or_, picked))
        return m
