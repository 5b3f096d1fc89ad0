"""SkidBuffer: every item once, in order, under random handshakes on both sides; one item per
cycle when the consumer is always ready; ``in_ready`` does not follow ``out_ready`` within a
cycle (it is a register); ``next_valid`` is ``out_valid`` one cycle early."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.skid_buffer import SLICE, SkidBuffer


@pytest.mark.parametrize("late_ready", [False, True])
@pytest.mark.parametrize(("p_valid", "p_ready"), [(0.7, 0.5), (1.0, 0.3), (0.4, 1.0)])
def test_skid_buffer_passes_every_item_in_order(p_valid, p_ready, late_ready):
    dut = SkidBuffer(12, late_ready)
    items = list(range(1, 200))
    got = []

    async def bench(ctx):
        rng = np.random.default_rng(int(p_valid * 10 + p_ready * 100))
        todo, t = list(items), 0
        while len(got) < len(items):
            offer = bool(todo) and rng.random() < p_valid
            ready = int(rng.random() < p_ready)
            ctx.set(dut.in_valid, int(offer))
            ctx.set(dut.in_data, todo[0] if offer else 0)
            before = ctx.get(dut.in_ready)
            ctx.set(dut.out_ready, ready)
            assert ctx.get(dut.in_ready) == before  # registered
            if offer and ctx.get(dut.in_ready):
                todo.pop(0)
            if ready and ctx.get(dut.out_valid):
                got.append(ctx.get(dut.out_data))
            nv = ctx.get(dut.next_valid)
            await ctx.tick()
            assert ctx.get(dut.out_valid) == nv  # next_valid: out_valid a cycle ahead
            t += 1
            assert t < 10 * len(items)

    run_sim(dut, bench)
    assert got == items


@pytest.mark.parametrize("late_ready", [False, True])
def test_skid_buffer_streams_one_item_per_cycle(late_ready):
    dut = SkidBuffer(8, late_ready)
    seen = []

    async def bench(ctx):
        ctx.set(dut.out_ready, 1)
        ctx.set(dut.in_valid, 1)
        for t in range(20):
            ctx.set(dut.in_data, t)
            assert ctx.get(dut.in_ready)
            if ctx.get(dut.out_valid):
                seen.append((t, ctx.get(dut.out_data)))
            await ctx.tick()

    run_sim(dut, bench)
    assert seen == [(t, t - 1) for t in range(1, 20)]


def test_skid_buffer_rejects_a_bad_width():
    with pytest.raises(ValueError, match="SkidBuffer width must be an integer"):
        SkidBuffer(0)


@pytest.mark.parametrize("width", [10, SLICE + 1, 2 * SLICE + 11])
def test_skid_buffer_late_ready_is_the_same_buffer_cycle_for_cycle(width):
    """Both builds under one random stimulus (valid and ready toggling, data changing
    every cycle) show the same in_ready, out_valid and (while valid) out_data, also where
    the late_ready build's registers are cut into several slices."""
    from amaranth.hdl import Module

    m = Module()
    m.submodules.a = a = SkidBuffer(width)
    m.submodules.b = b = SkidBuffer(width, late_ready=True)
    rng = np.random.default_rng(7)
    seen = []

    async def bench(ctx):
        for _ in range(600):
            v, r = int(rng.random() < 0.6), int(rng.random() < 0.5)
            x = int.from_bytes(rng.bytes(16)) & ((1 << width) - 1)
            for d in (a, b):
                ctx.set(d.in_valid, v)
                ctx.set(d.out_ready, r)
                ctx.set(d.in_data, x)
            sa = (ctx.get(a.in_ready), ctx.get(a.out_valid))
            assert sa == (ctx.get(b.in_ready), ctx.get(b.out_valid))
            if sa[1]:
                assert ctx.get(a.out_data) == ctx.get(b.out_data)
                seen.append(r)
            await ctx.tick()

    run_sim(m, bench)
    assert sum(seen) > 100  # items did pass
