"""BurstReader / BurstWriter on the pipelined Wishbone port, against a memory model with
latency and random stalls; consumer back-pressure included."""

import random

import pytest
from hw_sim import read_words, run_with_memory, write_words

from rtl_gen.hw.mem_port import BurstReader, BurstWriter, MemPortSignature


def _sim(dut, mem, bench, *, latency, stall_p, seed):
    run_with_memory(dut, dut.bus, mem, bench, data_bits=32, latency=latency, stall_p=stall_p,
                    seed=seed)


@pytest.mark.parametrize(("latency", "stall_p", "ready_p", "depth"),
                         [(1, 0.0, 1.0, 4), (3, 0.3, 0.6, 4), (5, 0.1, 1.0, 8), (2, 0.5, 0.3, 2)])
def test_burst_reader_streams_every_word_in_order(latency, stall_p, ready_p, depth):
    mem = {a: (a * 2654435761) & 0xFFFFFFFF for a in range(300)}
    dut = BurstReader(16, 32, depth=depth)
    got, cycles = [], {}

    async def bench(ctx):
        rng = random.Random(latency)
        for base, count in ((17, 40), (100, 1), (200, 23)):
            await ctx.tick().until(dut.idle)
            ctx.set(dut.base, base)
            ctx.set(dut.count, count)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            words, t = await read_words(ctx, dut, count, rng, ready_p)
            got.extend(words)
            cycles[count] = t

    _sim(dut, mem, bench, latency=latency, stall_p=stall_p, seed=1)
    want = [mem[a] for base, count in ((17, 40), (100, 1), (200, 23))
            for a in range(base, base + count)]
    assert got == want
    if stall_p == 0 and ready_p == 1.0 and depth > latency:
        assert cycles[40] <= 40 + latency + 3  # one word per cycle once the pipe is full


@pytest.mark.parametrize(("latency", "stall_p", "valid_p"), [(1, 0.0, 1.0), (4, 0.4, 0.5)])
def test_burst_writer_writes_every_word_with_byte_enables(latency, stall_p, valid_p):
    mem = {a: 0xA5A5A5A5 for a in range(64)}
    dut = BurstWriter(16, 32)
    rng = random.Random(7)
    words = [(rng.getrandbits(32), rng.choice([0xF, 0x3, 0xC, 0x1])) for _ in range(30)]

    async def bench(ctx):
        ctx.set(dut.base, 10)
        ctx.set(dut.count, len(words))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await write_words(ctx, dut, words, rng, valid_p)
        await ctx.tick().until(dut.idle)

    _sim(dut, mem, bench, latency=latency, stall_p=stall_p, seed=3)
    for i, (d, s) in enumerate(words):
        bm = sum(0xFF << (8 * b) for b in range(4) if s >> b & 1)
        assert mem[10 + i] == (0xA5A5A5A5 & ~bm | d & bm)
    assert mem[9] == mem[40] == 0xA5A5A5A5


def test_port_rejects_bad_widths():
    with pytest.raises(ValueError, match="data_bits must be a multiple of 8"):
        MemPortSignature(16, 12)
