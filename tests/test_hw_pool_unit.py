"""PoolUnit against a Python max/sum over random windows: sign-extended raw lanes (signed
and unsigned codes), padded positions that never win a max and add 0 to a sum (a window
padded throughout gives the lowest value or 0), gaps in ``valid`` between positions."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.pool_unit import PoolUnit


@pytest.mark.parametrize(("lanes", "bits", "acc_bits", "signed_codes"), [
    (4, 8, 16, True), (3, 2, 12, False), (2, 16, 24, True), (4, 4, 10, False)])
def test_pool_unit_max_and_sum(lanes, bits, acc_bits, signed_codes):
    rng = np.random.default_rng(lanes * 100 + bits)
    dut = PoolUnit(lanes, bits, acc_bits)
    mask = 1 << (bits - 1) if signed_codes else 0
    low = -(1 << (acc_bits - 1))
    windows, want = [], []
    for w in range(40):
        is_max = w % 2 == 0
        n = int(rng.integers(1, 10))
        pos = [(rng.integers(0, 1 << bits, lanes), rng.random(lanes) < 0.25) for _ in range(n)]
        if w == 5:  # a lane padded at every position
            pos = [(x, np.array([True] + [False] * (lanes - 1))) for x, _ in pos]
        windows.append((is_max, pos))
        vals = [[int(x[j]) - 2 * (int(x[j]) & mask) for x, p in pos if not p[j]]
                for j in range(lanes)]
        want.append([(max(v) if v else low) if is_max else sum(v) for v in vals])
    got = []

    async def bench(ctx):
        ctx.set(dut.mask, mask)
        for is_max, pos in windows:
            for i, (x, pad) in enumerate(pos):
                while rng.random() < 0.3:  # a gap between positions
                    ctx.set(dut.valid, 0)
                    await ctx.tick()
                    if ctx.get(dut.out_valid):
                        got.append([ctx.get(dut.y[j]) for j in range(lanes)])
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, int(i == 0))
                ctx.set(dut.last, int(i == len(pos) - 1))
                ctx.set(dut.is_max, int(is_max))
                ctx.set(dut.pad, sum(int(p) << j for j, p in enumerate(pad)))
                for j in range(lanes):
                    ctx.set(dut.x[j], int(x[j]))
                await ctx.tick()
                if ctx.get(dut.out_valid):
                    got.append([ctx.get(dut.y[j]) for j in range(lanes)])
        ctx.set(dut.valid, 0)
        for _ in range(PoolUnit.latency + 1):
            await ctx.tick()
            if ctx.get(dut.out_valid):
                got.append([ctx.get(dut.y[j]) for j in range(lanes)])

    run_sim(dut, bench)
    assert got == want


def test_pool_unit_rejects_a_bad_width():
    with pytest.raises(ValueError, match="PoolUnit acc_bits must be an integer"):
        PoolUnit(4, 8, 1)
