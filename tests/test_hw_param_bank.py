"""ParamBank: writes reach the shadow registers (each field kept to its signed width), the
active registers change only on ``copy`` (``copy_latency`` cycles later), a write
offered on one cycle is in place for a copy two cycles later, and writes offered after the
copy do not reach it."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.hw.param_bank import ParamBank

FIELDS = [("bias", 9), ("mult", 5), ("t0", 1)]


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def test_writes_then_copy():
    lanes = 3
    dut = ParamBank(lanes, FIELDS)
    rng = np.random.default_rng(1)
    shadow = [[0] * len(FIELDS) for _ in range(lanes)]
    errors = []

    async def write(ctx):
        """Offer one random write for a cycle (the shadow model takes it)."""
        c, f = int(rng.integers(lanes)), int(rng.integers(len(FIELDS)))
        v = int(rng.integers(0, 1 << 63))
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_chan, c)
        ctx.set(dut.w_field, f)
        ctx.set(dut.w_data, v)
        shadow[c][f] = _signed(v, FIELDS[f][1])
        await ctx.tick()

    async def bench(ctx):
        active = None
        for rnd in range(6):
            for _ in range(10):
                await write(ctx)
                if active is not None:  # writes never reach the active registers
                    for cc in range(lanes):
                        for ff, (name, _) in enumerate(FIELDS):
                            if ctx.get(getattr(dut, name)[cc]) != active[cc][ff]:
                                errors.append((rnd, "active changed"))
            ctx.set(dut.w_en, 0)
            await ctx.tick()  # the last write lands
            ctx.set(dut.copy, 1)
            await ctx.tick()
            ctx.set(dut.copy, 0)
            active = [row[:] for row in shadow]
            # writes offered from the cycle after the copy belong to the next copy
            for _ in range(dut.copy_latency - 1):
                await write(ctx)
            ctx.set(dut.w_en, 0)
            for c in range(lanes):
                for f, (name, _) in enumerate(FIELDS):
                    if ctx.get(getattr(dut, name)[c]) != active[c][f]:
                        errors.append((rnd, c, name))

    run_sim(dut, bench)
    assert errors == []


@pytest.mark.parametrize(("args", "msg"), [((0, FIELDS), "lanes must be"),
                                           ((2, []), "at least one field"),
                                           ((2, [("x", 65)]), "width of x")])
def test_bad_parameters(args, msg):
    with pytest.raises(ValueError, match=msg):
        ParamBank(*args)
