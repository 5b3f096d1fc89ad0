"""RowWriter against the Wishbone memory model (latency, random stalls, gaps in ``valid``):
every output-channel group of a tensor's pixels, in random order with the last group
clipped, lands where rtl_gen/compile/image.py ``pack`` puts it and nowhere else."""

import random

import numpy as np
import pytest
from amaranth.back import rtlil
from hw_sim import run_sim, run_with_memory

from rtl_gen.compile.image import pack, per_word, row_words
from rtl_gen.hw.row_writer import CAPACITY, MAX_OUTSTANDING, RowWriter

BASE = 7  # word address of the tensor


def _sim(dut, mem, bench, *, latency, stall_p, seed):
    run_with_memory(dut, dut.bus, mem, bench, data_bits=dut.mem_bits, latency=latency,
                    stall_p=stall_p, seed=seed)


def _jobs(rng, lanes, bits, mem_bits, chans, pixels, values):
    """(addr, slot0, words, row, byte mask) of every group of a random subset of pixels, in
    random order, plus rows with ``words = 0`` (junk data) that must write nothing."""
    e, wpp = per_word(bits, mem_bits), row_words(chans, bits, mem_bits)
    full = (1 << mem_bits // 8) - 1
    jobs = []
    for p in rng.sample(range(pixels), pixels - pixels // 5):
        for g in range(-(-chans // lanes)):
            n = min(lanes, chans - g * lanes)
            row = [int(v) for v in values[p, g * lanes: g * lanes + n]] + [0] * (lanes - n)
            if lanes % e == 0:
                jobs.append((BASE + p * wpp + g * lanes // e, 0, -(-n // e), row, full))
            else:
                slot0 = g * lanes % e
                assert slot0 * bits % 8 == 0 and slot0 + lanes <= e
                span = ((1 << lanes * bits // 8) - 1) << slot0 * bits // 8
                jobs.append((BASE + p * wpp + g * lanes // e, slot0, 1, row, span))
    rng.shuffle(jobs)
    lo = -(1 << bits - 1)
    for _ in range(len(jobs) // 8 + 1):
        junk = [rng.randint(lo, -lo - 1) for _ in range(lanes)]
        jobs.insert(rng.randrange(len(jobs) + 1), (BASE + rng.randrange(pixels * wpp), 0, 0,
                                                   junk, 0))
    return jobs


CONFIGS = [  # (lanes, bits, mem_bits): whole words, then sub-word rows
    (32, 2, 64), (32, 16, 64), (4, 8, 32), (32, 22, 64), (16, 16, 32), (32, 8, 128),
    (20, 3, 32), (2, 20, 32),
    (16, 2, 64), (8, 2, 32), (4, 2, 32), (2, 4, 64),
]


@pytest.mark.parametrize(("lanes", "bits", "mem_bits"), CONFIGS)
def test_row_writer_places_rows_like_pack(lanes, bits, mem_bits):
    rng = random.Random(lanes * 1000 + bits * 10 + mem_bits)
    dut = RowWriter(lanes, bits, mem_bits, 16)
    e, w = per_word(bits, mem_bits), dut.row_words
    assert w == (lanes // e if lanes % e == 0 else 1)
    chans = rng.randint(1, 3 * max(lanes, e))
    if chans % lanes == 0:
        chans -= 1 if chans > 1 else 0
    wpp = row_words(chans, bits, mem_bits)
    groups = -(-chans // lanes)
    pixels = max(3, 240 // (groups * w))
    lo = -(1 << bits - 1)
    values = np.array([[rng.randint(lo, -lo - 1) for _ in range(chans)]
                       for _ in range(pixels)])
    jobs = _jobs(rng, lanes, bits, mem_bits, chans, pixels, values)
    wmask = (1 << mem_bits) - 1
    mem = {a: rng.getrandbits(mem_bits) for a in range(BASE - 3, BASE + pixels * wpp + 3)}
    want = dict(mem)
    packed = pack(values, bits, wpp, mem_bits)
    wb = mem_bits // 8
    for addr, _slot0, words, _row, sel in jobs:
        bm = sum(0xFF << 8 * i for i in range(wb) if sel >> i & 1)
        for a in range(addr, addr + words):
            off = (a - BASE) * wb
            want[a] = want[a] & ~bm | int.from_bytes(packed[off: off + wb], "little") & bm
    latency, stall_p, valid_p = 1 + rng.randrange(4), rng.choice([0.0, 0.2, 0.5]), 0.7

    held = [0, 0]  # rows accepted less ``took`` pulses seen; rows taken

    async def bench(ctx):
        def count_took():
            # the engine's credit: fewer than CAPACITY rows held by this count -> ready
            if ctx.get(dut.took):
                held[0] -= 1
                held[1] += 1
            assert 0 <= held[0] <= CAPACITY
            assert held[0] == CAPACITY or ctx.get(dut.ready)

        for addr, slot0, words, row, _sel in jobs:
            while True:
                count_took()
                v = int(rng.random() < valid_p)
                ctx.set(dut.valid, v)
                ctx.set(dut.addr, addr)
                ctx.set(dut.slot0, slot0)
                ctx.set(dut.words, words)
                for j, x in enumerate(row if v else [rng.randint(lo, -lo - 1)] * lanes):
                    ctx.set(dut.row[j], x)  # junk while not valid: the row is registered
                done = v and ctx.get(dut.ready)
                held[0] += bool(done)
                await ctx.tick()
                if done:
                    break
        ctx.set(dut.valid, 0)
        for j in range(lanes):
            ctx.set(dut.row[j], rng.randint(lo, -lo - 1))
        while not ctx.get(dut.idle):
            count_took()
            await ctx.tick()
        count_took()
        assert held == [0, len(jobs)]
        assert not ctx.get(dut.bus.cyc)

    _sim(dut, mem, bench, latency=latency, stall_p=stall_p, seed=lanes + bits)
    assert {a: v & wmask for a, v in mem.items()} == want
    if lanes % e == 0:  # every written pixel's words are exactly pack's bytes
        for p in {(a - BASE) // wpp for a, _s, n, _r, _m in jobs if n}:
            got = b"".join(mem[BASE + p * wpp + k].to_bytes(wb, "little") for k in range(wpp))
            assert got == packed[p * wpp * wb: (p + 1) * wpp * wb]


@pytest.mark.parametrize(("lanes", "bits", "mem_bits"), [(32, 16, 64), (16, 2, 64), (4, 8, 32)])
def test_row_writer_streams_one_word_per_cycle(lanes, bits, mem_bits):
    dut = RowWriter(lanes, bits, mem_bits, 16)
    w, rows, latency = dut.row_words, 12, 3
    mem: dict[int, int] = {}
    accepts, end = [], []

    async def bench(ctx):
        ctx.set(dut.valid, 1)
        ctx.set(dut.words, w)
        t = r = 0
        while r < rows:
            ctx.set(dut.addr, 100 + r * w)
            for j in range(lanes):
                ctx.set(dut.row[j], (r + j) % 2)
            if ctx.get(dut.ready):
                accepts.append(t)
                r += 1
            await ctx.tick()
            t += 1
        ctx.set(dut.valid, 0)
        while not ctx.get(dut.idle):
            await ctx.tick()
            t += 1
        end.append(t)

    _sim(dut, mem, bench, latency=latency, stall_p=0.0, seed=0)
    # rows are taken as fast as their words leave (the input skid buffer takes up to two
    # rows ahead), and the words leave one per cycle after the input buffer's and the
    # output buffer's cycle of latency
    assert accepts[-1] <= (rows - 1) * w + 1
    assert end[0] <= rows * w + latency + 3
    assert sorted(mem) == list(range(100, 100 + rows * w))


@pytest.mark.parametrize(("args", "msg"), [
    ((3, 8, 32, 16), (r"RowWriter lanes must be a multiple or a divisor of mem_bits // bits = 4 "
                      r"\(a divisor only with lanes \* bits a multiple of 8\), got lanes=3, "
                      r"bits=8, mem_bits=32")),
    ((2, 2, 32, 16), "multiple or a divisor of mem_bits // bits = 16 .* got lanes=2, bits=2"),
    ((3, 22, 64, 16), "multiple or a divisor of mem_bits // bits = 2 .* got lanes=3"),
    ((8, 3, 32, 16), "multiple or a divisor of mem_bits // bits = 10 .* got lanes=8"),
    ((4, 40, 32, 16), r"RowWriter bits must be an integer in 1\.\.32, got 40"),
    ((4, 8, 36, 16), "RowWriter mem_bits must be a multiple of 8, got 36"),
    ((0, 8, 32, 16), r"RowWriter lanes must be an integer in 1\.\.1024, got 0"),
    ((4, 8, 32, 4), r"RowWriter addr_bits must be an integer in 8\.\.48, got 4"),
])
def test_row_writer_rejects_illegal_layouts(args, msg):
    with pytest.raises(ValueError, match=msg):
        RowWriter(*args)


def test_row_writer_elaborates_to_rtlil():
    for lanes, bits, mem_bits in ((32, 22, 64), (16, 2, 64)):
        dut = RowWriter(lanes, bits, mem_bits, 24)
        assert "module" in rtlil.convert(dut, name="row_writer")


def test_issue_pauses_at_max_outstanding_writes():
    """With acks held back, exactly MAX_OUTSTANDING writes issue; each ack lets one more go."""
    dut = RowWriter(4, 16, 64, 16)  # one word a row
    counts = []

    async def bench(ctx):
        ctx.set(dut.bus.stall, 0)
        ctx.set(dut.bus.ack, 0)
        ctx.set(dut.valid, 1)
        ctx.set(dut.words, 1)
        issued = 0
        for t in range(MAX_OUTSTANDING + 40):
            if t == MAX_OUTSTANDING + 20:  # two acks, then none again
                ctx.set(dut.bus.ack, 1)
            if t == MAX_OUTSTANDING + 22:
                ctx.set(dut.bus.ack, 0)
            issued += ctx.get(dut.bus.stb) & ctx.get(dut.bus.cyc)
            counts.append(issued)
            await ctx.tick()

    run_sim(dut, bench)
    assert counts[MAX_OUTSTANDING + 19] == MAX_OUTSTANDING
    assert counts[-1] == MAX_OUTSTANDING + 2
