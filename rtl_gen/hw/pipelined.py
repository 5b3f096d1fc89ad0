"""Pipelined building blocks of the epilogue units, sized so that each register stage holds
at most one multiplier, one adder or comparator, or a few levels of a barrel shifter.

Measured on an ECP5-85K (yowasp-nextpnr 0.11): a MULT18X18D without its internal registers
is 3.9 ns from input to output, a 58-bit carry chain about 3 ns, and every level of a
38-bit barrel shifter a LUT and a net; the single-stage units ran at 38-50 MHz. Hence:

- :func:`mul` splits a wide product into pieces of at most 18 x 18 bits (one hard multiplier
  each, registered alone) and sums them with a registered tree;
- :func:`shift_right` shifts by ``per`` bits of the amount per stage;
- :func:`clamp` tells whether the value fits the result's width, compares its low bits,
  then selects.

Every helper returns ``(result, latency)``; amounts and limits are per-layer controls that
the caller holds constant while a group streams through (the epilogue's contract), so they
are read where they are used.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from rtl_gen.hw.adder_tree import pipelined_sum

PIECE = 17  # unsigned low pieces: 17 bits + a zero sign bit fit an 18 x 18 signed multiplier


def reg(m: Module, v: Value, name: str, shape=None) -> Signal:
    """``v`` registered (shape of ``v`` unless given)."""
    r = Signal(shape if shape is not None else Value.cast(v).shape(), name=name)
    m.d.sync += r.eq(v)
    return r


BOUND_LATENCY = 3  # cycles from a loop bound to :func:`area_m1` (operands, product, result)


def area_m1(m: Module, h: Value, w: Value, dim: int, *, name: str) -> Signal:
    """``h * w - 1`` (``2 * dim`` bits) of the low ``dim`` bits of loop bounds ``h``, ``w``
    (a layer's last pixel index): operands, product and result each registered, the first
    two inside the hard multiplier, so no multiplier sits in a timing path. The bounds must
    be stable :data:`BOUND_LATENCY` cycles before the result is read (descriptor fields
    are set many cycles before ``layer_go``)."""
    a, b = reg(m, h[:dim], f"{name}_h"), reg(m, w[:dim], f"{name}_w")
    p = reg(m, a * b, f"{name}_p")
    return reg(m, p - 1, f"{name}_m1", shape=2 * dim)


def delay(m: Module, v: Value, n: int, name: str) -> Value:
    """``v`` delayed by ``n`` registers."""
    for i in range(n):
        v = reg(m, v, f"{name}_d{i}")
    return v


#: delays at least this long and this wide go to a RAM (LUT RAM on ECP5: 2 LUT4 per 16 x 4
#: bits instead of 64 flip-flops)
RAM_DELAY = (3, 16)


def delay_line(m: Module, v, n: int, name: str):
    """``v`` (a value or a layout view) delayed by ``n`` cycles, with its shape: registers,
    or for long wide values a circular buffer of ``n - 1`` words written every cycle and an
    output register (the comb read of the slot about to be overwritten returns the value
    written ``n - 1`` cycles ago; 0 before that, like reset registers). The register keeps
    the RAM's read out of the timing paths behind it."""
    from amaranth.lib import memory

    width = len(Value.cast(v))
    if n < RAM_DELAY[0] or width < RAM_DELAY[1]:
        for i in range(n):
            r = Signal.like(v, name=f"{name}_d{i}")
            m.d.sync += r.eq(v)
            v = r
        return v
    depth = n - 1
    mem = memory.Memory(shape=width, depth=depth, init=[])
    m.submodules[f"{name}_ram"] = mem
    wp, rp = mem.write_port(), mem.read_port(domain="comb")
    ptr = Signal(range(depth), name=f"{name}_ptr")
    m.d.sync += ptr.eq(Mux(ptr == depth - 1, 0, ptr + 1))
    out = Signal.like(v, name=f"{name}_out")
    m.d.comb += [wp.addr.eq(ptr), rp.addr.eq(ptr), wp.en.eq(1), wp.data.eq(Value.cast(v))]
    m.d.sync += Value.cast(out).eq(rp.data)
    return out


def piece_count(width: int) -> int:
    """How many pieces :func:`mul` cuts a ``width``-bit signed operand into."""
    return 1 if width <= 18 else 1 + math.ceil((width - 18) / PIECE)


def mul_latency(a_bits: int, b_bits: int, extra_terms: int = 0) -> int:
    """Latency of :func:`mul` (with ``extra_terms`` more addends in its sum tree)."""
    from rtl_gen.hw.adder_tree import tree_depth

    return 1 + tree_depth(piece_count(a_bits) * piece_count(b_bits) + extra_terms)


def pieces(v: Value) -> list[tuple[Value, int]]:
    """Signed ``v`` as (piece, bit offset): unsigned 17-bit pieces and a signed top piece of
    at most 18 bits."""
    v = Value.cast(v)
    n = len(v)
    if n <= 18:
        return [(v, 0)]
    out, at = [], 0
    while n - at > 18:
        out.append((v[at:at + PIECE].as_unsigned(), at))
        at += PIECE
    out.append((v[at:].as_signed(), at))
    return out


def mul(m: Module, a: Value, b: Value, *, name: str, extra: list[Value] = (),
        width: int | None = None) -> tuple[Signal, int]:
    """``a * b (+ sum(extra))`` for signed ``a``, ``b``: one registered product per pair of
    pieces, then a registered signed adder tree (``extra`` terms are registered alongside
    the products and join the tree). ``width``: the result's width (default the product's)."""
    a, b = Value.cast(a), Value.cast(b)
    width = width or len(a) + len(b)
    terms = []
    for i, (pa, sa) in enumerate(pieces(a)):
        for j, (pb, sb) in enumerate(pieces(b)):
            p = reg(m, pa * pb, f"{name}_p{i}{j}")
            terms.append(p << (sa + sb) if sa + sb else p)
    terms += [reg(m, e, f"{name}_e{k}") for k, e in enumerate(extra)]
    s, lat = pipelined_sum(m, terms, width, is_signed=True, name=f"{name}_sum")
    return s, 1 + lat


def shift_right(m: Module, v: Value, amount: Value, *, name: str,
                per: int = 3) -> tuple[Value, int]:
    """Arithmetic ``v >> amount`` (``amount`` unsigned), ``per`` amount bits a stage."""
    v, amount = Value.cast(v), Value.cast(amount)
    stages = math.ceil(len(amount) / per)
    for k in range(stages):
        part = amount[k * per:(k + 1) * per]
        v = reg(m, v >> (part << (k * per)) if k else v >> part, f"{name}_s{k}",
                Value.cast(v).shape())
    return v, stages


def shift_left(m: Module, v: Value, amount: Value, width: int, *, name: str,
               per: int = 3) -> tuple[Value, int]:
    """``(v << amount)[:width]`` (kept signed when ``v`` is), ``per`` amount bits a stage."""
    v, amount = Value.cast(v), Value.cast(amount)
    shape = signed(width) if v.shape().signed else width
    stages = math.ceil(len(amount) / per)
    for k in range(stages):
        part = amount[k * per:(k + 1) * per]
        sh = (v << (part << (k * per)))[:width]
        v = reg(m, sh.as_signed() if shape.signed else sh, f"{name}_s{k}", shape)
    return v, stages


CLAMP_LATENCY = 3


def clamp(m: Module, v: Value, lo: Value, hi: Value, *, name: str) -> tuple[Signal, int]:
    """``min(max(v, lo), hi)`` (signed) for limits as wide as the result (``W = len(lo)``
    bits): whether ``v`` fits W bits (its high bits all equal its sign: one LUT tree, no
    long compare), then the W-bit compares, then the select. Latency 3."""
    v, lo, hi = Value.cast(v), Value.cast(lo), Value.cast(hi)
    w = len(lo)
    if len(v) > w:
        top = v[w - 1:]
        big = reg(m, ~v[-1] & top.any(), f"{name}_big")  # positive, beyond W bits
        small = reg(m, v[-1] & ~top.all(), f"{name}_small")  # negative, beyond W bits
    else:
        big = small = Const(0, 1)
    low = reg(m, v[:w].as_signed() if len(v) >= w else v, f"{name}_low", lo.shape())
    # the limits (per-layer, held by the caller) registered beside the value: a limit from
    # one far register shared by every lane was the 4x8 datapath's critical path
    lo_r, hi_r = reg(m, lo, f"{name}_lo"), reg(m, hi, f"{name}_hi")
    over = reg(m, big | (~small & (low > hi_r)), f"{name}_over")
    under = reg(m, small | (~big & (low < lo_r)), f"{name}_under")
    low2 = reg(m, low, f"{name}_low2")
    out = Signal(lo.shape(), name=f"{name}_out")
    m.d.sync += out.eq(Mux(over, hi_r, Mux(under, lo_r, low2)))
    return out, CLAMP_LATENCY


def round_half(amount: Value, width: int) -> Value:
    """``2^(amount-1)`` for ``amount > 0``, 0 for ``amount = 0`` (``width`` bits, signed)."""
    one = Cat(Const(1, 1), Const(0, width - 1))
    return ((one << amount) >> 1)[:width].as_signed()
