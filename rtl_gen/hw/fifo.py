"""Synchronous FIFOs with registered ``w_rdy`` / ``r_rdy``.

Cycle for cycle the same queues as ``amaranth.lib.fifo.SyncFIFO`` and ``SyncFIFOBuffered``
(same ports, same levels, same data on the same cycles; tests/test_hw_fifo.py checks that
against Amaranth's), but the ready flags are flip-flops kept in step with the level instead
of compares of it: Amaranth's ``r_rdy = level != 0`` put the level compare, the consumer's
handshake and the level's add/subtract on one path, which nextpnr ranked among the engine's
slowest (docs/ARCHITECTURE.md "Timing"). The next flag needs only ``level == 1`` (or
``depth - 1``), a compare of the level register that runs in parallel with the handshake.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


def _incr(v: Value, modulo: int) -> Value:
    return v + 1 if modulo == 1 << len(v) else Mux(v == modulo - 1, 0, v + 1)


def _signature(width: int, depth: int) -> dict:
    return {"w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "w_level": Out(range(depth + 1)), "r_data": Out(width), "r_en": In(1),
            "r_rdy": Out(1), "r_level": Out(range(depth + 1)), "level": Out(range(depth + 1))}


class Counted:
    """The level of a queue of ``depth`` entries (or any bounded count of things in flight)
    and its registered not-empty / not-full flags; ``w_en`` / ``r_en`` are requests, which
    the flags gate into ``do_write`` / ``do_read``. Each flag's next value is one small function of the requests, the flags
    and a compare of the level register (``level == 1``, ``level == depth - 1``)."""

    def __init__(self, m: Module, depth: int, w_en: Value, r_en: Value) -> None:
        self.level = level = Signal(range(depth + 1))
        self.nonempty, self.nonfull = Signal(), Signal(init=1)
        self.do_write, self.do_read = Signal(), Signal()
        m.d.comb += [self.do_write.eq(w_en & self.nonfull), self.do_read.eq(r_en & self.nonempty)]
        m.d.sync += [
            self.nonempty.eq(self.do_write | (self.nonempty & ~(r_en & (level == 1)))),
            self.nonfull.eq(self.do_read | (self.nonfull & ~(w_en & (level == depth - 1)))),
        ]
        # level + 1 and level - 1 are registers too, so the requests (late in the cycle:
        # the consumer's handshake) only select registers; with the adders after the select,
        # as Yosys shares them, the handshake ran through a carry chain
        up, down = Signal(range(depth + 2), init=1), Signal(range(-1, depth + 1), init=-1)
        with m.If(self.do_write & ~self.do_read):
            m.d.sync += [level.eq(up), up.eq(up + 1), down.eq(level)]
        with m.Elif(self.do_read & ~self.do_write):
            m.d.sync += [level.eq(down), up.eq(level), down.eq(down - 1)]


class SyncFIFO(wiring.Component):
    """First-word-fall-through queue in LUT RAM (asynchronous read): an item written to an
    empty queue is readable the next cycle. ``depth`` entries, ``width`` bits each."""

    def __init__(self, *, width: int, depth: int) -> None:
        check_ints("SyncFIFO", width=(width, 1, 1 << 16), depth=(depth, 1, 1 << 16))
        self.width, self.depth = width, depth
        super().__init__(_signature(width, depth))

    def elaborate(self, platform) -> Module:
        m = Module()
        cnt = Counted(m, self.depth, self.w_en, self.r_en)
        do_write, do_read = cnt.do_write, cnt.do_read
        m.d.comb += [self.w_rdy.eq(cnt.nonfull), self.r_rdy.eq(cnt.nonempty),
                     self.level.eq(cnt.level), self.w_level.eq(cnt.level),
                     self.r_level.eq(cnt.level)]
        m.submodules.storage = mem = Memory(shape=self.width, depth=self.depth, init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="comb")
        produce, consume = Signal(range(self.depth)), Signal(range(self.depth))
        m.d.comb += [wp.addr.eq(produce), wp.data.eq(self.w_data), wp.en.eq(do_write),
                     rp.addr.eq(consume), self.r_data.eq(rp.data)]
        with m.If(do_write):
            m.d.sync += produce.eq(_incr(produce, self.depth))
        with m.If(do_read):
            m.d.sync += consume.eq(_incr(consume, self.depth))
        return m


class SyncFIFOBuffered(wiring.Component):
    """Queue whose output is a register (``r_data``, ``r_rdy``): a ``depth - 1`` entry
    memory with a synchronous read port in front of it, so it maps to block or LUT RAM and
    the consumer sees only flip-flops; an item written to an empty queue is readable two
    cycles later. ``depth`` >= 2."""

    def __init__(self, *, width: int, depth: int) -> None:
        check_ints("SyncFIFOBuffered", width=(width, 1, 1 << 16), depth=(depth, 2, 1 << 16))
        self.width, self.depth = width, depth
        super().__init__(_signature(width, depth))

    def elaborate(self, platform) -> Module:
        m = Module()
        inner = self.depth - 1
        cnt = Counted(m, inner, self.w_en, ~self.r_rdy | self.r_en)
        do_write, do_inner_read = cnt.do_write, cnt.do_read
        m.d.comb += self.w_rdy.eq(cnt.nonfull)
        m.submodules.storage = mem = Memory(shape=self.width, depth=inner, init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="sync")
        produce, consume = Signal(range(inner)), Signal(range(inner))
        m.d.comb += [wp.addr.eq(produce), wp.data.eq(self.w_data), wp.en.eq(do_write),
                     rp.addr.eq(consume), rp.en.eq(do_inner_read), self.r_data.eq(rp.data)]
        with m.If(do_write):
            m.d.sync += produce.eq(_incr(produce, inner))
        with m.If(do_inner_read):
            m.d.sync += [consume.eq(_incr(consume, inner)), self.r_rdy.eq(1)]
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        level = cnt.level + self.r_rdy
        m.d.comb += [self.level.eq(level), self.w_level.eq(level), self.r_level.eq(level)]
        return m


class Storage(wiring.Component):
    """The storage and pointers of a first-word-fall-through queue, without its flags: the
    caller keeps the count (``w_en`` only while not full, ``r_en`` only while not empty) and
    ``r_data`` is the head (LUT RAM, asynchronous read). For a wide queue split into column
    slices, one per consumer (the fetch unit's lanes): each slice's write enable then reaches
    only its own RAM cells, where one queue's enable spanned every column (docs/
    ARCHITECTURE.md "Timing")."""

    def __init__(self, *, width: int, depth: int) -> None:
        check_ints("Storage", width=(width, 1, 1 << 16), depth=(depth, 1, 1 << 16))
        self.width, self.depth = width, depth
        super().__init__({"w_en": In(1), "w_data": In(width), "r_en": In(1),
                          "r_data": Out(width)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.storage = mem = Memory(shape=self.width, depth=self.depth, init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="comb")
        produce, consume = Signal(range(self.depth)), Signal(range(self.depth))
        m.d.comb += [wp.addr.eq(produce), wp.data.eq(self.w_data), wp.en.eq(self.w_en),
                     rp.addr.eq(consume), self.r_data.eq(rp.data)]
        with m.If(self.w_en):
            m.d.sync += produce.eq(_incr(produce, self.depth))
        with m.If(self.r_en):
            m.d.sync += consume.eq(_incr(consume, self.depth))
        return m

