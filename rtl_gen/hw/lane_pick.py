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

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints, one_hot_select


class LanePick(wiring.Component):
    """``out`` = option ``s`` (``opt0``, ``opt1``, ...: ``widths[i]`` bits each, zero
    extended) for the ``sel`` ``s`` of the previous cycle (options live, ``sel`` a layer
    constant held a cycle ahead). Each option keeps its own width at the port, so the
    select of a bit only ORs the options that have it (with the hierarchy kept, Yosys
    cannot see zeros across a module boundary)."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        check_ints("LanePick", n=(len(widths), 1, 64),
                   **{f"width of option {i}": (w, 1, 4096) for i, w in enumerate(widths)})
        self.widths = tuple(widths)
        sig = {f"opt{i}": In(w) for i, w in enumerate(self.widths)}
        super().__init__({**sig, "sel": In(range(len(self.widths))),
                          "out": Out(max(self.widths))})

    def elaborate(self, platform) -> Module:
        m = Module()
        n = len(self.widths)
        one_hot = Signal(n, name="sel1h")
        m.d.sync += one_hot.eq(1 << self.sel)
        m.d.comb += self.out.eq(one_hot_select(one_hot, [getattr(self, f"opt{i}")
                                                         for i in range(n)]))
        return m
