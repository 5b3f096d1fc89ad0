"""The low-bit MAC array: PE output channels x SIMD input lanes of unsigned b-bit products.

Per cycle it takes SIMD activation digits ``x[j]`` (shared by all PEs) and a PE x SIMD block
of weight digits ``w[p][j]`` and produces, after ``latency`` cycles, ``dot[p] = sum_j x[j] *
w[p][j]`` for every PE and ``xsum = sum_j x[j]`` (the one extra lane that the offset
correction ``sum x * m = 2 sum x * u - N sum x`` needs, shared by all PEs). Products are
registered (after one stage that registers the operands, the activation digits once per
group of PEs), then reduced by balanced pipelined trees (rtl_gen/hw/adder_tree.py) whose levels
are packed into a few long carry chains. A ``tag`` travels with the operands so the
controller's first/last flags arrive with their sums.

Products are written as sums of partial-product bits ``x_i & w_j``, not ``x * w``: Yosys
maps every ``*`` it sees to a hard multiplier (a 2 x 2 product took a whole ECP5
MULT18X18D), and the array must stay in LUTs.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.adder_tree import packed_pipelined_sum, tree_depth
from rtl_gen.hw.common import check_int

MAX_LANES = 1024
#: PEs that share one registered copy of the activation digits: ``x`` reaches every PE, and
#: one register driving all of them spans the device (4.6 ns of routing on an ECP5-85k).
X_GROUP = 4


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
        self.latency = 2 + tree_depth(simd)
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
        pmax = (2**self.a_bits - 1) * (2**self.w_bits - 1)
        # stage 0: operands registered, x once per group of X_GROUP PEs
        xcopy = []
        for g in range(-(-self.pe // X_GROUP)):
            xr = Signal.like(self.x, name=f"x_g{g}")
            m.d.sync += xr.eq(self.x)
            xcopy.append(xr)
        for p in range(self.pe):
            wr = Signal.like(self.w[p], name=f"w_{p}")
            m.d.sync += wr.eq(self.w[p])
            xr = xcopy[p // X_GROUP]
            prods = []
            for j in range(self.simd):
                r = Signal(pb, name=f"prod_{p}_{j}")
                m.d.sync += r.eq(product(xr[j], wr[j]))
                prods.append(r)
            s, _, _ = packed_pipelined_sum(m, prods, [pmax] * self.simd, name=f"dot{p}")
            m.d.comb += self.dot[p].eq(s)
        xs = []
        for j in range(self.simd):
            r = Signal(self.a_bits, name=f"xreg_{j}")
            m.d.sync += r.eq(xcopy[-1][j])
            xs.append(r)
        s, _, _ = packed_pipelined_sum(m, xs, [2**self.a_bits - 1] * self.simd, name="xsum")
        m.d.comb += self.xsum.eq(s)
        # sideband: valid and tag delayed by the same latency as the sums
        v, t = self.valid, self.tag
        for i in range(self.latency):
            nv, nt = Signal(name=f"valid_d{i}"), Signal(self.tag_bits, name=f"tag_d{i}")
            m.d.sync += [nv.eq(v), nt.eq(t)]
            v, t = nv, nt
        m.d.comb += [self.out_valid.eq(v), self.out_tag.eq(t)]
        return m


def product(x: Value, w: Value) -> Value:
    """``x * w`` for unsigned ``x``, ``w`` as a sum of partial-product bits (no ``*``)."""
    x, w = Value.cast(x), Value.cast(w)
    terms = [Cat(Const(0, i + j), x[i] & w[j]) if i + j else x[i] & w[j]
             for i in range(len(x)) for j in range(len(w))]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
