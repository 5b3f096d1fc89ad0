"""Sums of AND terms on carry chains: ``sum_k 2**k * (a_k & w_k + b_k & v_k) + p & q`` per
segment.

A W2A2 product is four AND terms ``x_i & w_j`` (weights 1, 2, 2, 4). Written as ``x * w``
and then added, every product costs four LUT4s before the adder tree sees it. On ECP5 the
LUT4 inside each half of a ``CCU2C`` carry cell has four inputs while an adder uses two, so
one half can form both AND terms and add them: ``INIT = 0x7888`` is ``(A & B) ^ (C & D)``,
and its low nibble (the cell's generate function of ``A``, ``B``) is ``A & B``, the carry
whenever the two terms are equal. A segment of ``n`` such halves ends in one carry half
that passes the segment's carry out as its top bit; with ``D`` tied to 1 that half's sum
function is zero and its generate function free, so it also carries one more AND term,
``p & q``, into the next segment's low bit (``INIT = 0x0008``). ``n + 1`` LUT4s of chain
thus sum ``2n + 1`` AND terms into ``n + 1`` bits with no product LUTs (rtl_gen/hw/
mac_array.py; docs/ARCHITECTURE.md "MAC array").

``cells=""`` describes the same sums with ``&`` and ``+`` (simulation, other devices);
``cells="ecp5"`` instantiates ``CCU2C`` cells, packing segments into chains of at most
``max_chain`` halves, a segment without an injected term first in each chain (a chain
whose segments all inject starts with one carry half that only injects). Simulating ECP5
RTL needs :data:`CCU2C_SIM_V`, a model of the cell that tests/test_hw_and_sums.py proves
equal to Yosys's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Instance, Module, Signal, Value

from rtl_gen.hw.adder_tree import MAX_CHAIN

CELLS = ("", "ecp5")
#: LUT4 function ``(A & B) ^ (C & D)`` (index ``A + 2B + 4C + 8D``); ``INIT[3:0]`` = ``A & B``
AND_PAIR_INIT = 0x7888
#: carry half with ``D = 1``: sum function 0 (the carry in passes), generate ``A & B``
INJECT_INIT = 0x0008

Bit = tuple[Value, Value]  # an AND term (a, w)


@dataclass(frozen=True)
class Segment:
    """``terms[k]`` = two AND terms added at weight ``2**k``; ``inject``: one more at 1."""

    terms: tuple[tuple[Bit, Bit], ...]
    inject: Bit | None = None

    @property
    def width(self) -> int:
        return len(self.terms) + 1


def check_cells(owner: str, cells: str) -> None:
    if cells not in CELLS:
        raise ValueError(f"{owner} cells must be one of {CELLS}, got {cells!r}")


def and_sums(m: Module, segments: list[Segment], *, cells: str = "", name: str = "and",
             max_chain: int = MAX_CHAIN) -> list[Value]:
    """One combinational sum per segment, :attr:`Segment.width` bits wide."""
    check_cells("and_sums", cells)
    if not segments or any(not s.terms for s in segments):
        raise ValueError("and_sums needs at least one segment, each of >= 1 bit")
    if max(s.width for s in segments) + 1 > max_chain:
        raise ValueError(f"and_sums segments must be shorter than max_chain = {max_chain}")
    if cells == "":
        outs = []
        for k, seg in enumerate(segments):
            s = Signal(seg.width, name=f"{name}_s{k}")
            a = Cat(*(t[0][0] & t[0][1] for t in seg.terms))
            b = Cat(*(t[1][0] & t[1][1] for t in seg.terms))
            inj = seg.inject[0] & seg.inject[1] if seg.inject else Const(0, 1)
            m.d.comb += s.eq(a + b + inj)
            outs.append(s)
        return outs
    outs: dict[int, Value] = {}
    for g, chain in enumerate(_chains(segments, max_chain)):
        _chain_cells(m, chain, segments, outs, f"{name}_c{g}")
    return [outs[i] for i in range(len(segments))]


def _chains(segments: list[Segment], max_chain: int) -> list[list[int]]:
    """Segment indices per chain: injecting segments follow a chain's first segment."""
    plain = [i for i, s in enumerate(segments) if s.inject is None]
    fed = [i for i, s in enumerate(segments) if s.inject is not None]
    chains: list[list[int]] = []
    while plain or fed:
        chain = [plain.pop(0)] if plain else [-1]  # -1: a carry half that only injects
        used = segments[chain[0]].width if chain[0] >= 0 else 1
        for pool in (fed, plain):
            while pool and used + segments[pool[0]].width <= max_chain:
                used += segments[pool[0]].width
                chain.append(pool.pop(0))
        chains.append(chain)
    return chains


def _chain_cells(m: Module, chain: list[int], segments: list[Segment],
                 outs: dict[int, Value], name: str) -> None:
    zero, one = Const(0, 1), Const(1, 1)
    halves = []  # (A, B, C, D, INIT)
    for pos, i in enumerate(chain):
        nxt = segments[chain[pos + 1]].inject if pos + 1 < len(chain) else None
        carry = (*nxt, zero, one, INJECT_INIT) if nxt else (zero, zero, zero, zero, 0)
        if i >= 0:
            halves += [(t[0][0], t[0][1], t[1][0], t[1][1], AND_PAIR_INIT)
                       for t in segments[i].terms]
        halves.append(carry)
    if len(halves) % 2:
        halves.append((zero, zero, zero, zero, 0))
    s = Signal(len(halves), name=name)
    cin: Value = zero
    for k in range(0, len(halves), 2):
        h0, h1 = halves[k], halves[k + 1]
        cout = Signal(name=f"{name}_co{k // 2}")
        m.submodules[f"{name}_{k // 2}"] = Instance(
            "CCU2C", p_INIT0=Const(h0[4], 16), p_INIT1=Const(h1[4], 16),
            p_INJECT1_0="NO", p_INJECT1_1="NO", i_CIN=cin,
            i_A0=h0[0], i_B0=h0[1], i_C0=h0[2], i_D0=h0[3],
            i_A1=h1[0], i_B1=h1[1], i_C1=h1[2], i_D1=h1[3],
            o_S0=s[k], o_S1=s[k + 1], o_COUT=cout)
        cin = cout
    at = 1 if chain[0] < 0 else 0
    for i in chain:
        if i >= 0:
            outs[i] = s[at:at + segments[i].width]
            at += segments[i].width


#: Behavioural Verilog of the ECP5 ``CCU2C`` cell for Verilator and Icarus (the same function
#: as Yosys's ``share/ecp5/ccu2c_sim.vh``, without its timing).
CCU2C_SIM_V = """\
// Lattice ECP5 CCU2C (two LUT4s on a carry chain), behaviour only: for simulating n2uq-hw
// engines built for ECP5. Synthesis uses the vendor cell; never pass this file to Yosys.
module CCU2C (
    input CIN, input A0, input B0, input C0, input D0, input A1, input B1, input C1,
    input D1, output S0, output S1, output COUT
);
  parameter [15:0] INIT0 = 16'h0000;
  parameter [15:0] INIT1 = 16'h0000;
  parameter INJECT1_0 = "YES";
  parameter INJECT1_1 = "YES";
  wire f0 = INIT0[{D0, C0, B0, A0}];
  wire g0 = (INJECT1_0 == "YES") ? 1'b0 : INIT0[{2'b00, B0, A0}];
  wire c0 = (INJECT1_0 == "YES") ? 1'b0 : CIN;
  wire f1 = INIT1[{D1, C1, B1, A1}];
  wire g1 = (INJECT1_1 == "YES") ? 1'b0 : INIT1[{2'b00, B1, A1}];
  wire cout0 = f0 ? CIN : g0;
  wire c1 = (INJECT1_1 == "YES") ? 1'b0 : cout0;
  assign S0 = f0 ^ c0;
  assign S1 = f1 ^ c1;
  assign COUT = f1 ? cout0 : g1;
endmodule
"""


def uses_ecp5_cells(verilog: str) -> bool:
    """Whether generated ``verilog`` instantiates ECP5 carry cells (``cells="ecp5"``)."""
    return "CCU2C #(" in verilog


def sim_models(verilog: str) -> dict[str, str]:
    """Behavioural models (file name -> Verilog) that simulating ``verilog`` needs: the
    ``CCU2C`` model when it instantiates ECP5 carry cells, else nothing."""
    return {"ccu2c_sim.v": CCU2C_SIM_V} if uses_ecp5_cells(verilog) else {}
