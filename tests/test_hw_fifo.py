"""rtl_gen.hw.fifo: cycle for cycle the same queues as amaranth.lib.fifo's (ready flags,
levels, and the head item whenever it is readable) under random writes and reads, with
the ready flags registered (they do not follow ``w_en`` / ``r_en`` within a cycle)."""

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import fifo as ref_fifo
from hw_sim import run_sim

from rtl_gen.hw import fifo


class _Pair(Elaboratable):
    def __init__(self, ours, theirs) -> None:
        self.ours, self.theirs = ours, theirs

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.ours, m.submodules.theirs = self.ours, self.theirs
        return m


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("depth", [2, 3, 4, 5, 16, 17, 24])
@pytest.mark.parametrize(("p_write", "p_read"), [(0.6, 0.5), (0.9, 0.2), (0.3, 0.9)])
def test_fifo_matches_amaranth_cycle_for_cycle(buffered, depth, p_write, p_read):
    kind = "SyncFIFOBuffered" if buffered else "SyncFIFO"
    ours = getattr(fifo, kind)(width=9, depth=depth)
    theirs = getattr(ref_fifo, kind)(width=9, depth=depth)
    pair = _Pair(ours, theirs)
    stats = {"writes": 0, "reads": 0, "full": 0}

    async def bench(ctx):
        rng = np.random.default_rng(depth * 100 + int(p_write * 10) + int(p_read * 1000))
        for _ in range(600):
            w, r, data = int(rng.random() < p_write), int(rng.random() < p_read), \
                int(rng.integers(0, 512))
            flags = [ctx.get(ours.w_rdy), ctx.get(ours.r_rdy)]
            for q in (ours, theirs):
                ctx.set(q.w_en, w)
                ctx.set(q.w_data, data)
                ctx.set(q.r_en, r)
            assert [ctx.get(ours.w_rdy), ctx.get(ours.r_rdy)] == flags  # registered
            for name in ("w_rdy", "r_rdy", "level", "w_level", "r_level"):
                assert ctx.get(getattr(ours, name)) == ctx.get(getattr(theirs, name)), name
            if ctx.get(theirs.r_rdy):
                assert ctx.get(ours.r_data) == ctx.get(theirs.r_data)
            stats["writes"] += w & ctx.get(theirs.w_rdy)
            stats["reads"] += r & ctx.get(theirs.r_rdy)
            stats["full"] += 1 - ctx.get(theirs.w_rdy)
            await ctx.tick()

    run_sim(pair, bench)
    assert stats["writes"] > 50 and stats["reads"] > 50
    if p_write > p_read:
        assert stats["full"] > 0  # the full queue was exercised


@pytest.mark.parametrize(("kind", "depth"), [("SyncFIFO", 0), ("SyncFIFOBuffered", 1)])
def test_fifo_rejects_a_bad_depth(kind, depth):
    with pytest.raises(ValueError, match=f"{kind} depth must be an integer"):
        getattr(fifo, kind)(width=4, depth=depth)


@pytest.mark.parametrize("depth", [1, 3, 16, 24])
def test_storage_is_amaranths_sync_fifo_with_the_count_kept_outside(depth):
    """Storage fed the same gated writes and reads as Amaranth's SyncFIFO: the same head
    whenever the queue is not empty (through the wrap of a depth that is not a power of
    two)."""
    ours = fifo.Storage(width=9, depth=depth)
    theirs = ref_fifo.SyncFIFO(width=9, depth=depth)
    reads = []

    async def bench(ctx):
        rng = np.random.default_rng(depth)
        for _ in range(400):
            data = int(rng.integers(0, 512))
            w = int(rng.random() < 0.6) & ctx.get(theirs.w_rdy)
            r = int(rng.random() < 0.5) & ctx.get(theirs.r_rdy)
            for q in (ours, theirs):
                ctx.set(q.w_en, w)
                ctx.set(q.w_data, data)
                ctx.set(q.r_en, r)
            if ctx.get(theirs.r_rdy):
                assert ctx.get(ours.r_data) == ctx.get(theirs.r_data)
            reads.append(r)
            await ctx.tick()

    run_sim(_Pair(ours, theirs), bench)
    assert sum(reads) > 100


def test_storage_rejects_a_bad_depth():
    with pytest.raises(ValueError, match="Storage depth must be an integer"):
        fifo.Storage(width=4, depth=0)
