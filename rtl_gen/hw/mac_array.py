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

W2A2 (the networks' case) takes no product stage at all: the four AND terms of a lane,
``x * w = a + 2 (b + c) + 4 d`` (``a = x0 & w0``, ``b = x1 & w0``, ``c = x0 & w1``, ``d = x1 &
w1``), are summed straight from the operand registers on carry chains
(rtl_gen/hw/and_sums.py, :func:`lane_segments`: five 3-bit segments per six lanes),
registered, then reduced by one packed tree for the segments of weight 1 and one for those
of weight 2, and leave as ``lo + 2 hi``. On ECP5 (``cells="ecp5"``) each chain half forms
two AND terms and adds them, so the array costs about 6.9 LUT4 per MAC with its trees
against 10.0 for products and one tree (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.adder_tree import packed_pipelined_sum, tree_depth
from rtl_gen.hw.and_sums import Segment, and_sums, check_cells
from rtl_gen.hw.common import check_int
from rtl_gen.hw.pipelined import delay_line

MAX_LANES = 1024
#: PEs that share one registered copy of the activation digits: ``x`` reaches every PE, and
#: one register driving all of them spans the device (4.6 ns of routing on an ECP5-85k).
X_GROUP = 4


class MacArray(wiring.Component):
    """``pe`` x ``simd`` array of ``a_bits`` x ``w_bits`` unsigned multipliers."""

    def __init__(self, pe: int, simd: int, a_bits: int = 2, w_bits: int = 2,
                 tag_bits: int = 2, cells: str = "") -> None:
        for name, v, lo, hi in (("pe", pe, 1, MAX_LANES), ("simd", simd, 1, MAX_LANES),
                                ("a_bits", a_bits, 1, 8), ("w_bits", w_bits, 1, 8),
                                ("tag_bits", tag_bits, 1, 16)):
            check_int("MacArray", name, v, lo, hi)
        check_cells("MacArray", cells)
        self.cells = cells
        #: W2A2 lanes summed in pairs on chains (no product registers)
        self.paired = a_bits == w_bits == 2 and simd >= 2
        self.pe, self.simd, self.a_bits, self.w_bits = pe, simd, a_bits, w_bits
        self.tag_bits = tag_bits
        self.dot_bits = a_bits + w_bits + tree_depth(simd)
        self.xsum_bits = a_bits + tree_depth(simd)
        self.latency = 2 + tree_depth(simd)
        self.segments = lane_segments(simd) if self.paired else []
        if self.paired:  # chains, registered; the two trees; lo + 2 hi, registered
            n_lo = sum(k == "ab" for k, _, _, _ in self.segments)
            self.tree_levels = max(tree_depth(n_lo), tree_depth(len(self.segments) - n_lo))
            self.latency = 3 + self.tree_levels
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
            if self.paired:
                m.d.comb += self.dot[p].eq(self._paired_dot(m, xr, wr, p))
                continue
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
        s, _, depth = packed_pipelined_sum(m, xs, [2**self.a_bits - 1] * self.simd,
                                           name="xsum")
        # as late as the dot products
        m.d.comb += self.xsum.eq(delay_line(m, s, self.latency - 2 - depth, "xsum_wait"))
        # sideband: valid and tag delayed by the same latency as the sums
        v, t = self.valid, self.tag
        for i in range(self.latency):
            nv, nt = Signal(name=f"valid_d{i}"), Signal(self.tag_bits, name=f"tag_d{i}")
            m.d.sync += [nv.eq(v), nt.eq(t)]
            v, t = nv, nt
        m.d.comb += [self.out_valid.eq(v), self.out_tag.eq(t)]
        return m

    def _paired_dot(self, m: Module, xr: Value, wr: Value, p: int) -> Value:
        """One PE's W2A2 dot product from registered operands: the AND terms summed on
        chains (:func:`lane_segments`), registered, then one packed tree for the segments
        of weight 1 and one for those of weight 2, and ``lo + 2 hi``."""
        def term(kind: str, j: int) -> tuple[Value, Value]:
            if j < 0:
                return (Const(0, 1), Const(0, 1))
            i, k = _TERMS[kind]
            return (xr[j][i], wr[j][k])

        segs, lows, maxes = [], [], []
        for kinds, lanes, inj, mx in self.segments:
            segs.append(Segment(tuple((term(kinds[h], lanes[0]), term(kinds[h], lanes[1]))
                                      for h in range(2)),
                                term(*inj) if inj else None))
            lows.append(kinds[0] == "a")
            maxes.append(mx)
        regs = []
        for k, s in enumerate(and_sums(m, segs, cells=self.cells, name=f"pair{p}")):
            r = Signal(len(s), name=f"pair{p}_{k}")
            m.d.sync += r.eq(s)
            regs.append(r)
        sums = []
        for side in (True, False):
            sel = [k for k in range(len(segs)) if lows[k] == side]
            name = f"{'lo' if side else 'hi'}{p}"
            t, _, depth = packed_pipelined_sum(m, [regs[k] for k in sel],
                                               [maxes[k] for k in sel], name=name)
            # the shallower tree waits
            sums.append(delay_line(m, t, self.tree_levels - depth, f"{name}_wait"))
        lo, hi = sums
        dot = Signal(self.dot_bits, name=f"dot{p}")
        m.d.sync += dot.eq(Cat(lo[0], lo[1:] + hi))  # lo + 2 hi, the low bit passes
        return dot


#: the four AND terms of a W2A2 lane, ``x * w = a + 2 (b + c) + 4 d``: (x bit, w bit)
_TERMS = {"a": (0, 0), "b": (1, 0), "c": (0, 1), "d": (1, 1)}


def lane_segments(simd: int) -> list[tuple[str, tuple[int, int], tuple[str, int] | None, int]]:
    """The chain segments that sum ``simd`` W2A2 lanes' AND terms: ``(kinds, (lane, lane),
    injected (kind, lane) or None, max)``. A segment adds the two lanes' terms of kind
    ``kinds[0]`` at its low bit and of ``kinds[1]`` at the next, plus the injected term at
    its low bit; kinds ``"ab"`` sit at weight 1, ``"cd"`` at weight 2 (lane -1: no lane).
    Six lanes take five segments (15 LUT4 on ECP5): ``ab`` and ``cd`` of lanes 0, 1 with
    lane 2's ``a`` and ``b`` injected, the same for lanes 3, 4, 5, then ``cd`` of lanes 2
    and 5; leftover lanes go in pairs (the last one alone)."""
    if simd < 1:
        raise ValueError(f"lane_segments needs >= 1 lane, got {simd}")
    out = []
    base = 0
    for _ in range(simd // 6):
        for q in (0, 3):
            a, b, c = base + q, base + q + 1, base + q + 2
            out.append(("ab", (a, b), ("a", c), 7))
            out.append(("cd", (a, b), ("b", c), 7))
        out.append(("cd", (base + 2, base + 5), None, 6))
        base += 6
    while base < simd:
        pair = (base, base + 1) if base + 1 < simd else (base, -1)
        mx = 6 if pair[1] >= 0 else 3
        out += [("ab", pair, None, mx), ("cd", pair, None, mx)]
        base += 2
    return out


def product(x: Value, w: Value) -> Value:
    """``x * w`` for unsigned ``x``, ``w`` as a sum of partial-product bits (no ``*``)."""
    x, w = Value.cast(x), Value.cast(w)
    terms = [Cat(Const(0, i + j), x[i] & w[j]) if i + j else x[i] & w[j]
             for i in range(len(x)) for j in range(len(w))]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
