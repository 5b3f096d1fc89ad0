"""ResidualWalker: one command per (group, row, column) of the residual tensor, PE channels
each (fewer in the last group), against a Python loop under a random ``cmd_ready``;
nothing without ``res_en``."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.residual_walker import ResidualWalker


def _want(lanes, o, oh, ow, groups):
    return [(oy, ox, og * lanes, min(o - og * lanes, lanes))
            for og in range(groups) for oy in range(oh) for ox in range(ow)]


@pytest.mark.parametrize(("lanes", "o", "oh", "ow", "res_en"), [
    (4, 10, 2, 3, 1),  # 4 + 4 + 2 channels
    (8, 8, 3, 1, 1),  # one group
    (4, 8, 2, 2, 0),  # no residual: no commands
])
def test_residual_walker_matches_the_loop(lanes, o, oh, ow, res_en):
    groups = -(-o // lanes)
    want = _want(lanes, o, oh, ow, groups) if res_en else []
    dut = ResidualWalker(lanes)
    got = []

    async def bench(ctx):
        for name, v in (("o", o), ("oh", oh), ("ow", ow), ("groups", groups),
                        ("res_en", res_en)):
            ctx.set(getattr(dut, name), v)
        rng = np.random.default_rng(o)
        await ctx.tick().repeat(dut.settle)  # descriptor fields settle before go, as the
        # loader sets them
        ctx.set(dut.go, 1)
        await ctx.tick()
        ctx.set(dut.go, 0)
        t = 0
        while ctx.get(dut.cmd_valid):
            ready = int(rng.random() < 0.5)
            ctx.set(dut.cmd_ready, ready)
            if ready:
                got.append(tuple(ctx.get(getattr(dut, n)) for n in ("iy0", "ix0", "c0", "n")))
            await ctx.tick()
            t += 1
            assert t < 20 * len(want) + 100, "walker stuck"
        for _ in range(3):
            assert not ctx.get(dut.cmd_valid)
            await ctx.tick()

    run_sim(dut, bench)
    assert got == want


def test_residual_walker_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"ResidualWalker lanes must be an integer in "
                                         r"1\.\.1024, got 0"):
        ResidualWalker(0)
    with pytest.raises(ValueError, match="ResidualWalker dim_bits must be an integer in 4..16"):
        ResidualWalker(4, dim_bits=2)
