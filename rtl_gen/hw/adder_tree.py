"""Balanced, pipelined adder trees.

Wide reductions must be trees, never chains: a 256-deep chain of ``+`` crashed Yosys and
Amaranth's simulator, and a tree's depth (and so its pipeline latency) grows as log2 of the
operand count. Each level is registered, so one level of two-input adders sits between
flip-flops whatever the width of the array.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, signed, unsigned

#: Longest carry chain (bits) one level of :func:`packed_pipelined_sum` builds: ECP5's
#: ripple carry costs about 0.04 ns a bit, so 40 bits keep a level near 4 ns.
MAX_CHAIN = 40


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


def packed_pipelined_sum(m: Module, terms: list[Value], maxes: list[int], *, name: str = "sum",
                         max_chain: int = MAX_CHAIN) -> tuple[Signal, int, int]:
    """Like :func:`pipelined_sum` for unsigned ``terms`` with known maxima ``maxes``, but each
    level's additions are laid side by side in a few wide additions (up to ``max_chain``
    bits each), so an FPGA maps a level to a few long carry chains instead of one short
    chain per adder: every chain start and unused carry-out costs cells (nextpnr adds two
    LUT4s per ECP5 chain end), and a lane is only as wide as its largest possible sum.

    A lane's sum never exceeds its width, so no carry crosses into the next lane. Yosys
    splits an addition wherever both operands are constant zero, which would undo the
    packing, so one operand's padding bits come from an always-zero register (reset to 0
    and loaded with ``zero & t``, which stays 0 but which Yosys does not fold to a constant).
    Returns the sum, its maximum and the latency (levels).
    """
    if len(terms) != len(maxes) or not terms:
        raise ValueError("packed_pipelined_sum needs one maximum per term and >= 1 term")
    zero = Signal(name=f"{name}_zero")
    m.d.sync += zero.eq(zero & Value.cast(terms[0]).any())  # always 0
    level = [(Value.cast(t), int(mx)) for t, mx in zip(terms, maxes, strict=True)]
    depth = 0
    while len(level) > 1:
        pairs = [(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        nxt: list[tuple[Value, int]] = []
        chunk: list[tuple] = []
        bits = 0

        def flush(chunk: list[tuple], k: int, depth: int = depth,
                  nxt: list = nxt) -> None:
            a_parts, b_parts, lanes = [], [], []
            for (a, ma), (b, mb) in chunk:
                w = (ma + mb).bit_length()
                a_parts += [a[:w]] + ([zero] * (w - min(len(a), w)))
                b_parts += [b[:w]] + ([Const(0, 1)] * (w - min(len(b), w)))
                lanes.append((w, ma + mb))
            s = Signal(sum(w for w, _ in lanes), name=f"{name}_l{depth}_c{k}")
            m.d.sync += s.eq(Cat(*a_parts) + Cat(*b_parts))
            at = 0
            for w, mx in lanes:
                nxt.append((s[at:at + w], mx))
                at += w

        k = 0
        for (a, ma), (b, mb) in pairs:
            w = (ma + mb).bit_length()
            if chunk and bits + w > max_chain:
                flush(chunk, k)
                chunk, bits, k = [], 0, k + 1
            chunk.append(((a, ma), (b, mb)))
            bits += w
        flush(chunk, k)
        if len(level) % 2:
            t, mx = level[-1]
            r = Signal(max(mx.bit_length(), 1), name=f"{name}_l{depth}_odd")
            m.d.sync += r.eq(t)
            nxt.append((r, mx))
        level = nxt
        depth += 1
    t, mx = level[0]
    s = Signal(max(mx.bit_length(), 1), name=f"{name}_out")
    m.d.comb += s.eq(t)
    return s, mx, depth
