"""Small shared pieces of the engine's components: parameter checks and the IR's
arithmetic (docs/IR.md) as Amaranth expressions. Saturation limits and shift amounts arrive
as runtime values (the controller loads them from the layer program)."""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out


def check_int(owner: str, name: str, v: object, lo: int, hi: int) -> int:
    """``v`` as an int in ``lo..hi`` or a ValueError naming the component and parameter."""
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError(f"{owner} {name} must be an integer in {lo}..{hi}, got {v!r}")
    return v


def check_ints(owner: str, **checks: tuple[object, int, int]) -> None:
    """:func:`check_int` for every ``name=(value, lo, hi)``."""
    for name, (v, lo, hi) in checks.items():
        check_int(owner, name, v, lo, hi)


def spans(width: int, size: int) -> list[tuple[int, int]]:
    """The ``(lo, hi)`` bit ranges of at most ``size`` bits that cover ``width`` bits, in
    order (a wide register cut into modules, each with its own copy of a control)."""
    return [(lo, min(width, lo + size)) for lo in range(0, width, size)]


def check_slices(owner: str, lanes: int, groups: int, fields: dict) -> None:
    """The parameters of a lane (de)serializer: ``groups`` slices of ``lanes``, at least one
    field."""
    check_int(owner, "lanes", lanes, 1, 1024)
    check_int(owner, "groups", groups, 1, lanes)
    if lanes % groups:
        raise ValueError(f"{owner} groups must divide lanes ({lanes}), got {groups}")
    if not fields:
        raise ValueError(f"{owner} needs at least one field")


def saturating_lanes(lanes: int, out_bits: int) -> dict:
    """The members every saturating epilogue unit shares: runtime limits ``lo``/``hi`` in,
    ``out_valid`` and the ``lanes`` results ``y`` out."""
    return {"lo": In(signed(out_bits)), "hi": In(signed(out_bits)), "out_valid": Out(1),
            "y": Out(data.ArrayLayout(signed(out_bits), lanes))}


def one_hot_select(sel: Value, options: list) -> Value:
    """``options[i]`` where only bit ``i`` of ``sel`` is set (0 where none is): an OR of
    ANDs, with no priority chain."""
    return functools.reduce(operator.or_, [Mux(sel[i], o, 0) for i, o in enumerate(options)])


def clamp(v: Value, lo: Value, hi: Value) -> Value:
    """``min(max(v, lo), hi)`` (signed compare): the IR's ``sat``."""
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


def round_shift(v: Value, s: Value) -> Value:
    """``floor_div(v + 2^(s-1), 2^s)`` for ``s > 0`` and ``v`` for ``s = 0`` (round half up);
    ``v`` signed, ``s`` an unsigned runtime amount."""
    half = (Value.cast(1) << s) >> 1  # 2^(s-1), and 0 when s = 0
    return (v + half.as_signed()) >> s


def below_two(v: Value) -> Value:
    """``v < 2`` for an unsigned ``v`` as the borrow of ``v - 2``: one carry chain, where
    a compare with a constant maps to a tree of LUTs (the down counters' "next is the
    last" flags)."""
    return (v - 2)[-1]


WRAP_SETTLE = 1  # cycles wrap_counter adds to the settling of its bound (a registered compare)


def wrap_counter(m: Module, cnt: Signal, bound: Value, step: Value, restart: Value) -> Signal:
    """Count ``cnt`` from 0 to ``bound`` on ``step``, wrapping to 0, and return a registered
    flag "``cnt`` is at ``bound``", so a walker's step enables read a flag rather than a
    wide compare. The flag's next value needs no compare either: a down counter ``bound -
    cnt`` beside ``cnt`` gives it as the borrow of ``rem - 2`` (one carry chain), and
    ``bound == 0`` is registered. ``restart`` (priority) sets 0. ``bound`` must be held from
    at least two cycles before ``restart`` (the walkers register their descriptor bounds
    well before ``go``)."""
    return _wrap_core(m, cnt, bound, step, restart)[0]


def _wrap_core(m: Module, cnt: Signal, bound: Value, step: Value,
               restart: Value) -> tuple[Signal, Signal, Signal, Value]:
    """:func:`wrap_counter`'s registers; returns its flag, ``rem`` (``bound - cnt``), the
    registered ``bound == 0`` and "this cycle wraps or restarts"."""
    at_end = Signal(name=f"{cnt.name}_last")
    rem = Signal(len(bound), name=f"{cnt.name}_rem")  # bound - cnt
    b_zero = Signal(name=f"{cnt.name}_b0")
    m.d.sync += b_zero.eq(bound == 0)
    reload = restart | (step & at_end)
    with m.If(reload):
        m.d.sync += [cnt.eq(0), rem.eq(bound), at_end.eq(b_zero)]
    with m.Elif(step):
        m.d.sync += [cnt.eq(cnt + 1), rem.eq(rem - 1), at_end.eq(below_two(rem))]
    return at_end, rem, b_zero, reload


def lagging_wrap_counter(m: Module, cnt: Signal, bound: Value, step: Value,
                         restart: Value) -> Value:
    """:func:`wrap_counter` for a late ``step`` with a wide fanout: ``step`` is registered
    first (a step in a restart's cycle is dropped, as the restart's priority drops it), so
    only one flip-flop loads from it and ``cnt`` lags one step. The returned flag "at
    ``bound``, counting this cycle's registered step" selects between two registered
    flags by that flip-flop: the counter's own and "one step further". Same conditions on
    ``bound`` as :func:`wrap_counter`."""
    q = Signal(name=f"{cnt.name}_stepq")
    m.d.sync += q.eq(step & ~restart)
    at_end, rem, b_zero, reload = _wrap_core(m, cnt, bound, q, restart)
    n1 = Signal(name=f"{cnt.name}_last1")  # at_end after one more step
    b_one = Signal(name=f"{cnt.name}_b1")
    m.d.sync += b_one.eq(bound == 1)
    with m.If(reload):
        m.d.sync += n1.eq(b_zero | b_one)
    with m.Elif(q):
        # not at the end: rem >= 1, so rem < 2 is rem == 1
        m.d.sync += n1.eq(Mux(below_two(rem), b_zero, rem == 2))
    return Mux(q, n1, at_end)
