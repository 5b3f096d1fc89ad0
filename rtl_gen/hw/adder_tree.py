"""Balanced, pipelined adder trees.

Wide reductions must be trees, never chains: a 256-deep chain of ``+`` crashed Yosys and
Amaranth's simulator, and a tree's depth (and so its pipeline latency) grows as log2 of the
operand count. Each level is registered, so one level of two-input adders sits between
flip-flops whatever the width of the array.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed, unsigned


def tree_depth(n: int) -> int:
    """Levels of a balanced binary tree over ``n`` operands (0 for one operand)."""
    if n < 1:
        raise ValueError(f"an adder tree needs at least one operand, got {n}")
    return (n - 1).bit_length()


def pipelined_sum(m: Module, terms: list[Value], width: int, *, is_signed: bool = False,
                  name: str = "sum") -> tuple[Signal, int]:
    """Sum ``terms`` with a registered balanced tree; returns the result and its latency.

    ``width`` must hold the full sum (the caller knows the operand ranges). Odd operands at a
    level are carried to the next level through a register so every path has equal latency.
    """
    if width < 1:
        raise ValueError(f"adder tree width must be >= 1, got {width}")
    shape = signed(width) if is_signed else unsigned(width)
    level = list(terms)
    depth = 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            s = Signal(shape, name=f"{name}_l{depth}_{i // 2}")
            if i + 1 < len(level):
                m.d.sync += s.eq(level[i] + level[i + 1])
            else:
                m.d.sync += s.eq(level[i])
            nxt.append(s)
        level = nxt
        depth += 1
    if depth == 0:
        s = Signal(shape, name=f"{name}_l0_0")
        m.d.comb += s.eq(level[0])
        return s, 0
    return level[0], depth
