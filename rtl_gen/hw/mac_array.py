"""The low-bit MAC array: PE output channels x SIMD input lanes of unsigned b-bit products.

Per cycle it takes SIMD activation digits ``x[j]`` (shared by all PEs) and a PE x SIMD block
of weight digits ``w[p][j]`` and produces, after ``latency`` cycles, ``dot[p] = sum_j x[j] *
w[p][j]`` for every PE and ``xsum = sum_j x[j]`` (the one extra lane that the offset
correction ``sum x * m = 2 sum x * u - N sum x`` needs, shared by all PEs). Products are
registered, then reduced by balanced pipelined trees (rtl_gen/hw/adder_tree.py). A ``tag``
travels with the operands so the controller's first/last flags arrive with their sums.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.adder_tree import pipelined_sum, tree_depth
from rtl_gen.hw.common import check_int

MAX_LANES = 1024


class MacArray(wiring.Component):
    """``pe`` x ``simd`` array of ``a_bits`` x ``w_bits`` unsigned multipliers."""

    def __init__(self, pe: int, simd: int, a_bits: int = 2, w_bits: int = 2,
                 tag_bits: int = 2) -> None:
        for name, v, lo, hi in (("pe", pe, 1, MAX_LANES), ("simd", simd, 1, MAX_LANES),
                                ("a_bits", a_bits, 1, 8), ("w_bits", w_bits, 1, 8),
                                ("tag_bits", tag_bits, 1, 16)):
            check_int("MacArray", name, v, lo, hi)
        self.pe, self.simd, self.a_bits, self.w_bits = pe, simd, a_bits, w_bits
        self.tag_bits = tag_bits
        self.dot_bits = a_bits + w_bits + tree_depth(simd)
        self.xsum_bits = a_bits + tree_depth(simd)
        self.latency = 1 + tree_depth(simd)
        super().__init__({
            "valid": In(1),
            "tag": In(tag_bits),
            "x": In(data.ArrayLayout(unsigned(a_bits), simd)),
            "w": In(data.ArrayLayout(data.ArrayLayout(unsigned(w_bits), simd), pe)),
            "out_valid": Out(1),
            "out_tag": Out(tag_bits),
            "dot": Out(data.ArrayLayout(unsigned(self.dot_bits), pe)),
            "xsum": Out(unsigned(self.xsum_bits)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        pb = self.a_bits + self.w_bits
        for p in range(self.pe):
            prods = []
            for j in range(self.simd):
                r = Signal(pb, name=f"prod_{p}_{j}")
                m.d.sync += r.eq(self.x[j] * self.w[p][j])
                prods.append(r)
            s, _ = pipelined_sum(m, prods, self.dot_bits, name=f"dot{p}")
            m.d.comb += self.dot[p].eq(s)
        xs = []
        for j in range(self.simd):
            r = Signal(self.a_bits, name=f"xreg_{j}")
            m.d.sync += r.eq(self.x[j])
            xs.append(r)
        s, _ = pipelined_sum(m, xs, self.xsum_bits, name="xsum")
        m.d.comb += self.xsum.eq(s)
        # sideband: valid and tag delayed by the same latency as the sums
        v, t = self.valid, self.tag
        for i in range(self.latency):
            nv, nt = Signal(name=f"valid_d{i}"), Signal(self.tag_bits, name=f"tag_d{i}")
            m.d.sync += [nv.eq(v), nt.eq(t)]
            v, t = nv, nt
        m.d.comb += [self.out_valid.eq(v), self.out_tag.eq(t)]
        return m
