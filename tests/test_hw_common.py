"""wrap_counter and lagging_wrap_counter against a Python counter: random steps and
restarts, bounds 0 .. 9 changed between walks (held two cycles before the restart, as the
walkers do). A step in a restart's cycle is dropped (the restart has priority); the
lagging counter's ``cnt`` trails by its registered step, so only its flag is compared."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from rtl_gen.hw.common import lagging_wrap_counter, wrap_counter


@pytest.mark.parametrize("counter", [wrap_counter, lagging_wrap_counter])
def test_counter_flag_matches_a_python_counter(counter):
    m = Module()
    cnt, bound, step, restart = Signal(6), Signal(6), Signal(), Signal()
    last = counter(m, cnt, bound, step, restart)
    rng = np.random.default_rng(7)

    async def bench(ctx):
        for walk in range(40):
            b = int(rng.integers(0, 10))
            ctx.set(bound, b)
            ctx.set(step, 0)
            await ctx.tick().repeat(2)
            ctx.set(restart, 1)
            ctx.set(step, int(rng.random() < 0.5))  # dropped by the restart
            await ctx.tick()
            ctx.set(restart, 0)
            want = 0
            for _ in range(int(rng.integers(1, 40))):
                if counter is wrap_counter:
                    assert ctx.get(cnt) == want
                assert ctx.get(last) == int(want == b), (walk, b, want)
                s = int(rng.random() < 0.8)
                ctx.set(step, s)
                await ctx.tick()
                if s:
                    want = 0 if want == b else want + 1

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
