"""ChunkWalker: the fetch commands of a layer, in (group, row, column, chunk) order, against a
Python loop over the same chunk table, under a random ``cmd_ready``; ``go`` restarts it (and
drops the commands it had queued); a ready consumer gets one command per cycle."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.chunk_walker import ChunkWalker

FIELDS = ("pad", "stride", "cin", "chan_step", "chunks", "ow", "oh", "groups")


def _slot(ky0, kx0, c0, n, phase):
    return ky0 | kx0 << 8 | c0 << 16 | n << 32 | phase << 48


def _want(table, pad, stride, cin, chan_step, ow, oh, groups):
    out = []
    for og in range(groups):
        for oy in range(oh):
            for ox in range(ow):
                for kc, (ky0, kx0, c0, n, phase) in enumerate(table):
                    c = c0 + og * chan_step
                    room = cin - c
                    n_eff = room if chan_step and room < n else n
                    out.append((oy * stride - pad, ox * stride - pad, ky0, kx0, c, n_eff,
                                int(kc == 0), int(kc == len(table) - 1), phase))
    return out


LAYER = ("pad", "stride", "cin", "chan_step", "ow", "oh", "groups")
CASES = {  # chunk table, then (pad, stride, cin, chan_step, ow, oh, groups)
    # 3 x 3 conv, stride 2, pad 1, 12 channels in chunks of 8: every channel each group
    "conv": ([(ky, kx, c, min(8, 12 - c), 0) for ky in range(3) for kx in range(3)
              for c in (0, 8)], (1, 2, 12, 0, 3, 2, 2)),
    # 2 x 2 pool over 10 channels, 4 a group: the last group's chunks hold 2
    "pool": ([(ky, kx, 0, 4, ky) for ky in range(2) for kx in range(2)], (0, 2, 10, 4, 2, 2, 3)),
    # one chunk per pixel (1 x 1 conv, image phases)
    "one_chunk": ([(0, 0, 0, 3, 2)], (0, 1, 3, 0, 4, 3, 2)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunk_walker_matches_the_loop(case):
    table, layer = CASES[case]
    c = dict(zip(LAYER, layer, strict=True))
    slots = [_slot(*e) for e in table]
    want = _want(table, **c)
    dut = ChunkWalker(simd=8, chunk_depth=len(table) + 2)
    got, restarted = [], []

    async def bench(ctx):
        for name in FIELDS:
            ctx.set(getattr(dut, name), len(table) if name == "chunks" else c[name])
        for i, slot in enumerate(slots):  # the loader writes the table
            ctx.set(dut.t_en, 1)
            ctx.set(dut.t_addr, i)
            ctx.set(dut.t_data, slot)
            await ctx.tick()
        ctx.set(dut.t_en, 0)
        await ctx.tick().repeat(dut.settle)  # descriptor fields settle before go
        rng = np.random.default_rng(len(want))
        for phase in range(2):  # the first walk is cut short by a second go
            ctx.set(dut.go, 1)
            await ctx.tick()
            ctx.set(dut.go, 0)
            seen, t = [], 0
            while len(seen) < len(want) and not (phase == 0 and len(seen) == 5):
                ready = int(rng.random() < 0.6)
                ctx.set(dut.cmd_ready, ready)
                if ready and ctx.get(dut.cmd_valid):
                    seen.append(tuple(ctx.get(getattr(dut, n)) for n in (
                        "iy0", "ix0", "ky0", "kx0", "c0", "n", "first", "last", "phase")))
                await ctx.tick()
                t += 1
                assert t < 20 * len(want) + 100, "walker stuck"
            ctx.set(dut.cmd_ready, 0)
            (restarted if phase == 0 else got).extend(seen)
        for _ in range(3):  # done: stays idle
            assert not ctx.get(dut.cmd_valid)
            await ctx.tick()

    run_sim(dut, bench)
    assert restarted == want[:5]
    assert got == want


def test_chunk_walker_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"ChunkWalker simd must be an integer in 1\.\.1024, "
                                         r"got 0"):
        ChunkWalker(simd=0, chunk_depth=4)
    with pytest.raises(ValueError, match="ChunkWalker chunk_depth must be an integer"):
        ChunkWalker(simd=8, chunk_depth=0)
    with pytest.raises(ValueError, match="ChunkWalker desc_bits must be an integer in 12..64"):
        ChunkWalker(simd=8, chunk_depth=4, desc_bits=8)


def test_chunk_walker_streams_one_command_per_cycle():
    table, layer = CASES["conv"]
    c = dict(zip(LAYER, layer, strict=True))
    dut = ChunkWalker(simd=8, chunk_depth=len(table))
    times = []

    async def bench(ctx):
        for name in FIELDS:
            ctx.set(getattr(dut, name), len(table) if name == "chunks" else c[name])
        await ctx.tick().repeat(dut.settle)  # descriptor fields settle before go, as the
        # loader sets them
        ctx.set(dut.go, 1)
        await ctx.tick()
        ctx.set(dut.go, 0)
        ctx.set(dut.cmd_ready, 1)
        for t in range(60):
            if ctx.get(dut.cmd_valid):
                times.append(t)
            await ctx.tick()

    run_sim(dut, bench)
    assert times == list(range(times[0], times[0] + 60 - times[0]))
    assert times[0] <= 4  # pipeline latency from go
