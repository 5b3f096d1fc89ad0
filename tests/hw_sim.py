"""Helpers for Amaranth-simulator component tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from amaranth.hdl import Elaboratable
from amaranth.sim import Simulator


def run_sim(dut, bench: Callable[..., Awaitable[None]], *, vcd: str | None = None) -> None:
    """Run an async testbench ``bench(ctx)`` on ``dut`` with a 1 MHz sync clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def _set(ctx, port, value) -> None:
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _set(ctx, port[i], v)
    else:
        ctx.set(port, int(value))


def _get(ctx, port, shape):
    if isinstance(shape, tuple) and shape:
        return [_get(ctx, port[i], shape[1:]) for i in range(shape[0])]
    return ctx.get(port)


def stream(dut, beats: list[dict], consts: dict, outputs: dict[str, tuple],
           latency: int) -> list[dict]:
    """Drive one beat per cycle (``valid`` high), ``consts`` held throughout from one cycle
    before the first beat (as the engine holds its layer constants); collect the ``outputs``
    (name -> array shape, ``()`` for a scalar) of every ``out_valid`` cycle."""
    got: list[dict] = []

    async def bench(ctx):
        for name, v in consts.items():
            _set(ctx, getattr(dut, name), v)
        await ctx.tick()
        for t in range(len(beats) + latency + 1):
            if t < len(beats):
                ctx.set(dut.valid, 1)
                for name, v in beats[t].items():
                    _set(ctx, getattr(dut, name), v)
            else:
                ctx.set(dut.valid, 0)
            if ctx.get(dut.out_valid):
                got.append({n: _get(ctx, getattr(dut, n), s) for n, s in outputs.items()})
            await ctx.tick()

    run_sim(dut, bench)
    return got


def wishbone_memory(bus, mem: dict[int, int], *, data_bits: int, latency: int = 2,
                    stall_p: float = 0.0, seed: int = 0):
    """An async simulator process serving the engine's pipelined Wishbone port from ``mem``
    (word address -> value): acks ``latency`` cycles after each accepted request, in order,
    with random ``stall`` cycles. Add it with ``Simulator.add_process``."""
    import random
    from collections import deque

    mask = (1 << data_bits) - 1

    async def proc(ctx):
        rng = random.Random(seed)
        pending: deque = deque()
        cycle = 0
        async for _clk, _rst, stb, stall, we, adr, dat_w, sel in ctx.tick().sample(
                bus.stb, bus.stall, bus.we, bus.adr, bus.dat_w, bus.sel):
            cycle += 1
            if stb and not stall:
                pending.append((cycle + latency - 1, we, adr, dat_w, sel))
            if pending and pending[0][0] <= cycle:
                _, w, a, d, s = pending.popleft()
                if w:
                    bmask = sum(0xFF << (8 * i) for i in range(data_bits // 8) if s >> i & 1)
                    mem[a] = (mem.get(a, 0) & ~bmask | d & bmask) & mask
                else:
                    ctx.set(bus.dat_r, mem.get(a, 0) & mask)
                ctx.set(bus.ack, 1)
            else:
                ctx.set(bus.ack, 0)
            ctx.set(bus.stall, int(rng.random() < stall_p))

    return proc


class OnArbiter(Elaboratable):
    """``clients`` (components with a ``bus``) sharing one :class:`BusArbiter` ``arb``, whose
    ``arb.bus`` is the memory side: the test top of arbiter-based tests."""

    def __init__(self, arb, clients: list) -> None:
        self.arb, self.clients = arb, list(clients)

    def elaborate(self, platform):
        from amaranth.hdl import Module
        from amaranth.lib import wiring

        m = Module()
        m.submodules.arb = self.arb
        for i, c in enumerate(self.clients):
            m.submodules[f"c{i}"] = c
            wiring.connect(m, c.bus, getattr(self.arb, f"port{i}"))
        return m


def run_with_memory(dut, bus, mem: dict[int, int], benches, *, data_bits: int, latency: int,
                    stall_p: float, seed: int, processes=()) -> None:
    """Simulate ``dut`` with :func:`wishbone_memory` on ``bus``, the async testbenches
    ``benches`` (one or a list) and extra ``processes``."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(wishbone_memory(bus, mem, data_bits=data_bits, latency=latency,
                                    stall_p=stall_p, seed=seed))
    for p in processes:
        sim.add_process(p)
    for b in benches if isinstance(benches, list) else [benches]:
        sim.add_testbench(b)
    sim.run()


async def read_words(ctx, port, count: int, rng, ready_p: float, limit: int = 1 << 30
                     ) -> tuple[list[int], int]:
    """Consume ``count`` words from a ``valid``/``ready``/``data`` stream with a random
    ``ready`` (probability ``ready_p``); returns (words, cycles)."""
    got, t = [], 0
    while len(got) < count:
        r = int(rng.random() < ready_p)
        ctx.set(port.ready, r)
        if r and ctx.get(port.valid):
            got.append(ctx.get(port.data))
        await ctx.tick()
        t += 1
        assert t < limit, "stream stuck"
    ctx.set(port.ready, 0)
    return got, t


async def write_words(ctx, port, words: list[tuple[int, int]], rng, valid_p: float,
                      limit: int = 1 << 30) -> None:
    """Offer ``(data, sel)`` words to a ``valid``/``ready`` write stream with a random
    ``valid`` (probability ``valid_p``) until all are taken."""
    i, t = 0, 0
    while i < len(words):
        v = int(rng.random() < valid_p)
        ctx.set(port.valid, v)
        ctx.set(port.data, words[i][0])
        ctx.set(port.sel, words[i][1])
        if v and ctx.get(port.ready):
            i += 1
        await ctx.tick()
        t += 1
        assert t < limit, "writer stuck"
    ctx.set(port.valid, 0)
