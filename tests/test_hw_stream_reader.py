"""StreamReader: random address streams with skips and tags against a Wishbone memory with
latency and random stalls, random consumer back-pressure; throughput; credits; errors."""

import random

import pytest
from amaranth.sim import Simulator
from hw_sim import OnArbiter, wishbone_memory

from rtl_gen.hw.bus_arbiter import BusArbiter
from rtl_gen.hw.stream_reader import StreamReader

LIMIT = 5000


def _requests(rng, n, skip_p, tag_bits, lo=0, hi=4096):
    return [(rng.randrange(lo, hi), int(rng.random() < skip_p), rng.getrandbits(tag_bits))
            for _ in range(n)]


def _expect(mem, reqs):
    return [(0 if s else mem.get(a, 0), t, s) for a, s, t in reqs]


def _producer(dut, reqs, valid_p, seed, stamps=None):
    async def bench(ctx):
        rng = random.Random(seed)
        i, t = 0, 0
        offering = False
        while i < len(reqs):
            offering = offering or rng.random() < valid_p  # once offered, held until taken
            a, s, g = reqs[i]
            ctx.set(dut.a_valid, int(offering))
            ctx.set(dut.a_addr, a)
            ctx.set(dut.a_skip, s)
            ctx.set(dut.a_tag, g)
            if offering and ctx.get(dut.a_ready):
                if stamps is not None and i == 0:
                    stamps.append(t)
                i += 1
                offering = False
            await ctx.tick()
            t += 1
            assert t < LIMIT, "producer stuck"
        ctx.set(dut.a_valid, 0)
    return bench


def _consumer(dut, n, got, ready_p, seed, stamps=None):
    async def bench(ctx):
        rng = random.Random(seed)
        t = 0
        while len(got) < n:
            r = int(rng.random() < ready_p)
            ctx.set(dut.ready, r)
            if r and ctx.get(dut.valid):
                got.append((ctx.get(dut.data), ctx.get(dut.tag), ctx.get(dut.skip)))
            await ctx.tick()
            t += 1
            assert t < LIMIT, "consumer stuck"
        ctx.set(dut.ready, 0)
        if stamps is not None:
            stamps.append(t)
        for _ in range(3):
            assert not ctx.get(dut.valid), "entry beyond the requests"
            await ctx.tick()
        assert ctx.get(dut.idle)
    return bench


def _monitor(dut, depth):
    """Every cycle: the bus requests taken are the accepted non-skip requests' addresses,
    in order, each taken at least one cycle after its accept (through the request buffer,
    at most two waiting), ``cyc`` is high while reads are outstanding, at most ``depth``
    entries live (queued) plus one in the output register, ``idle`` exactly when none
    live."""
    bus = dut.bus

    async def proc(ctx):
        live = reads = 0
        waiting: list[int] = []  # accepted reads' addresses the memory has not taken
        async for _clk, _rst, av, ar, sk, adr, stb, stall, badr, cyc, ack, v, r, idle in (
                ctx.tick().sample(dut.a_valid, dut.a_ready, dut.a_skip, dut.a_addr, bus.stb,
                                  bus.stall, bus.adr, bus.cyc, bus.ack, dut.valid, dut.ready,
                                  dut.idle)):
            acc = av and ar
            assert bool(stb) == bool(waiting), "stb without a waiting read, or one held back"
            if stb:
                assert badr == waiting[0] and cyc
                if not stall:
                    waiting.pop(0)
            if acc and not sk:
                waiting.append(adr)
            assert len(waiting) <= 2
            assert cyc or reads == 0
            assert bool(idle) == (live == 0)
            live += int(bool(acc)) - int(bool(v and r))
            reads += int(bool(acc and not sk)) - int(bool(ack))
            assert 0 <= live <= depth + 1 and reads >= 0  # + 1: the output register
    return proc


def _run(dut, bus, mem, benches, *, latency, stall_p, seed, monitor=None):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(wishbone_memory(bus, mem, data_bits=32, latency=latency, stall_p=stall_p,
                                    seed=seed))
    if monitor:
        sim.add_process(monitor)
    for b in benches:
        sim.add_testbench(b)
    sim.run()


@pytest.mark.parametrize(("latency", "stall_p", "valid_p", "ready_p", "skip_p", "depth"), [
    (1, 0.0, 1.0, 1.0, 0.2, 4),
    (2, 0.3, 0.8, 0.5, 0.3, 8),
    (3, 0.5, 1.0, 0.3, 0.1, 2),
    (4, 0.1, 0.6, 0.9, 0.5, 8),
    (5, 0.2, 1.0, 0.7, 0.0, 3),
    (5, 0.0, 1.0, 0.2, 0.9, 2),
    (3, 0.4, 0.9, 1.0, 1.0, 4),
])
def test_outputs_equal_the_requested_words(latency, stall_p, valid_p, ready_p, skip_p, depth):
    rng = random.Random(latency * 100 + depth)
    mem = {a: rng.getrandbits(32) for a in range(4096)}
    reqs = _requests(rng, 200, skip_p, tag_bits=5)
    dut = StreamReader(12, 32, tag_bits=5, depth=depth)
    got: list = []
    _run(dut, dut.bus, mem, [_producer(dut, reqs, valid_p, seed=1),
                             _consumer(dut, len(reqs), got, ready_p, seed=2)],
         latency=latency, stall_p=stall_p, seed=latency, monitor=_monitor(dut, depth))
    assert got == _expect(mem, reqs)


@pytest.mark.parametrize(("latency", "depth", "skip_p"),
                         [(1, 5, 0.0), (3, 7, 0.0), (5, 9, 0.0), (5, 9, 0.3), (2, 16, 0.5)])
def test_one_entry_per_cycle(latency, depth, skip_p):
    # ready consumer, stall-free memory, depth >= latency + 4: N entries in
    # N + latency + 5 (+ 1: the output register, + 1: the request buffer, + 1: the
    # registered ack and data)
    rng = random.Random(latency)
    mem = {a: a ^ 0x5A5A for a in range(1024)}
    reqs = _requests(rng, 100, skip_p, tag_bits=1, hi=1024)
    dut = StreamReader(10, 32, depth=depth)
    got: list = []
    first, last = [], []
    _run(dut, dut.bus, mem, [_producer(dut, reqs, 1.0, seed=0, stamps=first),
                             _consumer(dut, len(reqs), got, 1.0, seed=0, stamps=last)],
         latency=latency, stall_p=0.0, seed=0)
    assert got == _expect(mem, reqs)
    assert first == [0]
    assert last[0] <= len(reqs) + latency + 5


def test_credits_hold_without_a_consumer():
    # nobody reads: exactly depth requests are accepted (and one more once the first has
    # moved into the output register), then a_ready stays low
    dut = StreamReader(10, 32, depth=5)
    mem = {a: a for a in range(64)}
    taken = []

    async def bench(ctx):
        ctx.set(dut.a_valid, 1)
        for t in range(40):
            ctx.set(dut.a_addr, t)
            ctx.set(dut.a_skip, t % 3 == 0)
            if ctx.get(dut.a_ready):
                taken.append(t)
            await ctx.tick()
        ctx.set(dut.a_valid, 0)
        assert ctx.get(dut.valid) and not ctx.get(dut.idle)
        assert not ctx.get(dut.bus.cyc)  # every read acknowledged, words buffered

    _run(dut, dut.bus, mem, [bench], latency=3, stall_p=0.3, seed=1)
    assert len(taken) == 5 + 1


def _Shared() -> OnArbiter:
    return OnArbiter(BusArbiter(2, 12, 32, depth=4),
                     [StreamReader(12, 32, tag_bits=3, depth=6) for _ in range(2)])


def test_two_readers_share_the_bus_through_the_arbiter():
    rng = random.Random(9)
    mem = {a: rng.getrandbits(32) for a in range(4096)}
    top = _Shared()
    reqs = [_requests(rng, 120, 0.2, tag_bits=3) for _ in range(2)]
    got: list[list] = [[], []]
    benches = []
    for i, r in enumerate(top.clients):
        benches += [_producer(r, reqs[i], 0.8, seed=10 + i),
                    _consumer(r, len(reqs[i]), got[i], 0.7, seed=20 + i)]
    _run(top, top.arb.bus, mem, benches, latency=3, stall_p=0.3, seed=4)
    assert got == [_expect(mem, q) for q in reqs]


@pytest.mark.parametrize(("args", "kw", "msg"), [
    ((12, 32), {"depth": 1}, "StreamReader depth must be an integer in 2..1024, got 1"),
    ((12, 32), {"tag_bits": 0}, "StreamReader tag_bits must be an integer in 1..64, got 0"),
    ((12, 20), {}, "MemPortSignature data_bits must be a multiple of 8, got 20"),
    ((60, 32), {}, "MemPortSignature addr_bits must be an integer in 8..48, got 60"),
])
def test_constructor_rejects_bad_parameters(args, kw, msg):
    with pytest.raises(ValueError, match="^" + msg.replace(".", r"\.") + "$"):
        StreamReader(*args, **kw)
