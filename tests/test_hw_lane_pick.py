"""LanePick: each lane's element from the assembler of the width ``sel`` named a cycle
earlier (its own registered copy of ``sel``), the options passing through unregistered."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.lane_pick import LanePick


@pytest.mark.parametrize("n", [1, 2, 4])
def test_out_is_the_option_named_a_cycle_earlier(n):
    width = 9
    dut = LanePick(width, n)
    rng = np.random.default_rng(n)
    errors = []

    async def bench(ctx):
        prev = None
        for _ in range(60):
            s = int(rng.integers(n))
            opts = [int(v) for v in rng.integers(0, 1 << width, n)]
            ctx.set(dut.sel, s)
            for i, v in enumerate(opts):
                ctx.set(dut.opts[i], v)
            if prev is not None and ctx.get(dut.out) != opts[prev]:
                errors.append((prev, opts, ctx.get(dut.out)))
            prev = s
            await ctx.tick()

    run_sim(dut, bench)
    assert errors == []


@pytest.mark.parametrize(("args", "msg"), [((0, 2), "width"), ((8, 0), "n"), ((8, 65), "n")])
def test_bad_parameters(args, msg):
    with pytest.raises(ValueError, match=msg):
        LanePick(*args)
