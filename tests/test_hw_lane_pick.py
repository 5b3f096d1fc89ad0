"""LanePick: each lane's element from the assembler of the width ``sel`` named a cycle
earlier (its own registered copy of ``sel``), the options passing through unregistered."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.lane_pick import LanePick


@pytest.mark.parametrize("widths", [(9,), (2, 9), (2, 8, 16, 32)])
def test_out_is_the_option_named_a_cycle_earlier(widths):
    n = len(widths)
    dut = LanePick(widths)
    rng = np.random.default_rng(n)
    errors = []

    async def bench(ctx):
        prev = None
        for _ in range(60):
            s = int(rng.integers(n))
            opts = [int(rng.integers(0, 1 << w)) for w in widths]
            ctx.set(dut.sel, s)
            for i, v in enumerate(opts):
                ctx.set(getattr(dut, f"opt{i}"), v)
            if prev is not None and ctx.get(dut.out) != opts[prev]:
                errors.append((prev, opts, ctx.get(dut.out)))
            prev = s
            await ctx.tick()

    run_sim(dut, bench)
    assert errors == []


@pytest.mark.parametrize(("widths", "msg"), [((), "n"), ((8, 0), "width of option 1"),
                                             ((8,) * 65, "n")])
def test_bad_parameters(widths, msg):
    with pytest.raises(ValueError, match=msg):
        LanePick(widths)
