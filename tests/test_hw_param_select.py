"""ParamSelect: ``value`` is the option the slice index chose two cycles earlier, for every
width (one chunk or several) and group count; bad parameters are refused."""

import random

import pytest
from amaranth.hdl import Module, Signal
from hw_sim import run_sim

from rtl_gen.hw.param_select import CHUNK, LATENCY, ParamSelect, select_chunks


@pytest.mark.parametrize(("width", "groups"), [(1, 2), (7, 3), (CHUNK, 4), (2 * CHUNK + 5, 4)])
def test_value_follows_the_index(width, groups):
    rng = random.Random(width * 10 + groups)
    opts_v = [rng.getrandbits(width) for _ in range(groups)]
    m = Module()
    opts = [Signal(width, name=f"o{g}", init=v) for g, v in enumerate(opts_v)]
    index = Signal(range(groups))
    out = select_chunks(m, opts, index, "p")
    assert len(out) == width
    seq = [rng.randrange(groups) for _ in range(60)]
    got = []

    async def bench(ctx):
        for s in seq:
            ctx.set(index, s)
            await ctx.tick()
            got.append(ctx.get(out))

    run_sim(m, bench)
    # after tick t the value is that of the index set LATENCY ticks before
    assert got[LATENCY - 1:] == [opts_v[s] for s in seq[:len(seq) - LATENCY + 1]]


@pytest.mark.parametrize(("args", "msg"), [
    ((0, 2), "ParamSelect width must be an integer in 1..4096, got 0"),
    ((8, 1), "ParamSelect groups must be an integer in 2..1024, got 1"),
])
def test_constructor_rejects_bad_parameters(args, msg):
    with pytest.raises(ValueError, match="^" + msg.replace(".", r"\.") + "$"):
        ParamSelect(*args)
