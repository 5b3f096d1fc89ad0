"""MacArray against numpy dot products, randomized, every cycle's output checked."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.mac_array import MacArray


@pytest.mark.parametrize(("pe", "simd", "ab", "wb"), [
    (1, 1, 2, 2), (3, 5, 2, 2), (4, 8, 3, 3), (2, 16, 4, 4), (5, 7, 2, 3),
    # W2A2 on chains (lane_segments): pairs, a lone lane, six-lane groups with leftovers
    (1, 2, 2, 2), (2, 3, 2, 2), (2, 6, 2, 2), (6, 13, 2, 2), (2, 32, 2, 2)])
def test_mac_array_matches_numpy(pe, simd, ab, wb):
    rng = np.random.default_rng(pe * 100 + simd)
    n = 12
    xs = rng.integers(0, 2**ab, (n, simd))
    ws = rng.integers(0, 2**wb, (n, pe, simd))
    valid = rng.integers(0, 2, n)
    tags = rng.integers(0, 4, n)
    dut = MacArray(pe, simd, ab, wb)
    got = []

    async def bench(ctx):
        for t in range(n + dut.latency + 1):
            if t < n:
                ctx.set(dut.valid, int(valid[t]))
                ctx.set(dut.tag, int(tags[t]))
                for j in range(simd):
                    ctx.set(dut.x[j], int(xs[t, j]))
                    for p in range(pe):
                        ctx.set(dut.w[p][j], int(ws[t, p, j]))
            else:
                ctx.set(dut.valid, 0)
            if ctx.get(dut.out_valid):
                got.append((ctx.get(dut.out_tag), [ctx.get(dut.dot[p]) for p in range(pe)],
                            ctx.get(dut.xsum)))
            await ctx.tick()

    run_sim(dut, bench)
    want = [(int(tags[t]), list((ws[t] * xs[t][None]).sum(1)), int(xs[t].sum()))
            for t in range(n) if valid[t]]
    assert got == want


def test_mac_array_worst_case_fits():
    pe, simd = 2, 9
    dut = MacArray(pe, simd, 2, 2)
    got = {}

    async def bench(ctx):
        ctx.set(dut.valid, 1)
        for j in range(simd):
            ctx.set(dut.x[j], 3)
            for p in range(pe):
                ctx.set(dut.w[p][j], 3)
        for _ in range(dut.latency):
            await ctx.tick()
        got["dot"] = ctx.get(dut.dot[1])
        got["xsum"] = ctx.get(dut.xsum)

    run_sim(dut, bench)
    assert got == {"dot": 81, "xsum": 27}


@pytest.mark.parametrize(("kw", "msg"), [({"pe": 0}, "pe must be an integer in 1..1024"),
                                         ({"a_bits": 9}, "a_bits must be an integer in 1..8"),
                                         ({"simd": 2.0}, "simd must be an integer")])
def test_mac_array_rejects_bad_parameters(kw, msg):
    args = {"pe": 2, "simd": 2, **kw}
    with pytest.raises(ValueError, match=msg):
        MacArray(**args)
