"""OutputWalker: each popped row's word offsets, slot and address, per written tensor,
against a Python loop over (group, pixel) under a random ``pop``; ``busy`` until the last
row."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.output_walker import OutputWalker

LANES = 4
# (epw, wpp, gwords): whole words per group; four groups' slots sharing 16-element words;
# two groups per 8-element word; one element a word
WRITERS = [(2, 6, 2), (16, 1, 0), (8, 2, 0), (1, 12, 4)]
BASES = [0, 1000, 7, 40000]  # each tensor's base address


def _want(oh, ow, groups):
    out = []
    state = [[0, 0, 0] for _ in WRITERS]  # pix_off, word_off, slot
    for _og in range(groups):
        for pix in range(oh * ow):
            out.append(tuple(v for s, b in zip(state, BASES, strict=True)
                             for v in (s[1], s[2], b + s[0] + s[1])))
            for s, (epw, wpp, gwords) in zip(state, WRITERS, strict=True):
                s[0] += wpp
                if pix == oh * ow - 1:
                    s[0] = 0
                    if gwords:
                        s[1] += gwords
                    elif s[2] + LANES == epw:
                        s[2], s[1] = 0, s[1] + 1
                    else:
                        s[2] += LANES
    return out


@pytest.mark.parametrize(("oh", "ow", "groups"), [(2, 3, 3), (1, 1, 5), (3, 2, 1)])
def test_output_walker_matches_the_loop(oh, ow, groups):
    want = _want(oh, ow, groups)
    dut = OutputWalker(LANES, [w[0] for w in WRITERS], addr_bits=16)
    got = []

    async def bench(ctx):
        for name, v in (("oh", oh), ("ow", ow), ("groups", groups)):
            ctx.set(getattr(dut, name), v)
        for i, (epw, wpp, gwords) in enumerate(WRITERS):
            for name, v in (("epw", epw), ("wpp", wpp), ("gwords", gwords),
                            ("base", BASES[i])):
                ctx.set(getattr(dut, f"wr{i}_{name}"), v)
        assert not ctx.get(dut.busy)
        await ctx.tick().repeat(dut.settle)  # descriptor fields settle before go, as the
        # loader sets them
        ctx.set(dut.go, 1)
        await ctx.tick()
        ctx.set(dut.go, 0)
        rng = np.random.default_rng(oh * ow * groups)
        t = 0
        while len(got) < len(want):
            assert ctx.get(dut.busy)
            pop = int(rng.random() < 0.5)
            ctx.set(dut.pop, pop)
            if pop:
                got.append(tuple(ctx.get(getattr(dut, f"wr{i}_{n}")) for i in range(len(WRITERS))
                                 for n in ("word_off", "slot", "addr")))
            await ctx.tick()
            t += 1
            assert t < 20 * len(want) + 100, "walker stuck"
        ctx.set(dut.pop, 0)
        await ctx.tick()
        assert not ctx.get(dut.busy)

    run_sim(dut, bench)
    assert got == want


def test_output_walker_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"OutputWalker epws\[1\] must be an integer in "
                                         r"1\.\.65536, got 0"):
        OutputWalker(4, [2, 0], addr_bits=16)
    with pytest.raises(ValueError, match=r"OutputWalker lanes must be an integer in 1\.\.1024"):
        OutputWalker(0, [2], addr_bits=16)
    with pytest.raises(ValueError, match="OutputWalker addr_bits must be an integer in 8..48"):
        OutputWalker(4, [2], addr_bits=4)
