"""Per-slice parameter select with its own copy of the slice index.

The serial epilogue's stages pick each lane's parameter for the slice whose data enters
them. Selected by one shared slice register, the index (and the decode Yosys shares after
it) fanned out to every parameter bit of every lane; that net was the routed critical path
in three of five routes of the 4 x 8 engine (sessions 11 and 12: nets of 3.9-4.8 ns and
4.5-6.5 ns across the device). A :class:`ParamSelect` registers its own copy of the
index, so each copy drives only the selects of ``width`` bits, placed beside them
(separate modules: Yosys merges identical registers within a module, not across modules);
the epilogue cuts a wide parameter into selects of at most :data:`CHUNK` bits.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints, spans

#: widest select one index copy drives
CHUNK = 32

LATENCY = 2  # cycles from ``slice`` to ``value``: the index copy, then the selected value


class ParamSelect(wiring.Component):
    """``value`` = ``opts[slice]`` of ``slice`` :data:`LATENCY` cycles ago (``opts`` held)."""

    def __init__(self, width: int, groups: int) -> None:
        check_ints("ParamSelect", width=(width, 1, 4096), groups=(groups, 2, 1024))
        self.width, self.groups = width, groups
        super().__init__({"opts": In(data.ArrayLayout(width, groups)),
                          "slice": In(range(groups)), "value": Out(width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        sel = Signal(range(self.groups), name="sel")
        m.d.sync += [sel.eq(self.slice), self.value.eq(self.opts[sel])]
        return m


def select_chunks(m: Module, opts: list, index, name: str) -> Signal:
    """``opts[index]`` :data:`LATENCY` cycles later, through one :class:`ParamSelect` per
    :data:`CHUNK` bits (submodules ``{name}_{lo}`` of ``m``); ``opts`` are equal-width
    values held constant."""
    width = len(opts[0])
    out = Signal(width, name=name)
    for lo, hi in spans(width, CHUNK):
        ps = ParamSelect(hi - lo, len(opts))
        m.submodules[f"{name}_{lo}"] = ps
        m.d.comb += [ps.slice.eq(index), out[lo:hi].eq(ps.value)]
        for g, o in enumerate(opts):
            m.d.comb += ps.opts[g].eq(o[lo:hi])
    return out
