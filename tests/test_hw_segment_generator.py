"""SegmentGenerator against the fetch contract (rtl_gen/compile/fetch.py): the same segments,
in the same order, for every chunk of sampled output pixels of real layers, under random
command and segment handshakes; and its throughput."""

import numpy as np
import pytest
from hw_sim import run_sim
from ir_fixtures import Builder, small_graph

from rtl_gen.compile.chunks import chunks, lane_terms
from rtl_gen.compile.fetch import segments
from rtl_gen.compile.image import MemoryImage, per_word, storage_bits
from rtl_gen.compile.program import compile_layers, conv_dims
from rtl_gen.config import EngineConfig
from rtl_gen.hw.segment_generator import SegmentGenerator


@pytest.mark.parametrize(("simd", "mem_bits", "which"), [(8, 32, 0), (5, 32, 1), (16, 64, 0),
                                                         (4, 64, 2), (3, 16, 1)])
def test_segment_generator_matches_the_fetch_contract(simd, mem_bits, which):
    _check_layer(small_graph(simd + which), simd, mem_bits, which)


@pytest.mark.parametrize(("k", "s", "p", "simd"), [(1, 1, 0, 4), (2, 2, 0, 12), (3, 2, 1, 16),
                                                   (5, 1, 2, 8), (5, 1, 2, 32),
                                                   (7, 2, 3, 16)])
def test_every_kernel_size_steps_its_window_rows(k, s, p, simd):
    # "last column" and "next row / column inside" are flags carried through the queue and
    # stepped with the position (k = 1 wraps at every position; a 32-lane chunk of the 5 x 5
    # window crosses two rows, from the top padding into the image)
    b = Builder(k)
    x = b.input("in", 9, 9)
    b.conv("conv", x, 4, k=k, s=s, p=p, fmt="int8", wbits=8, zero_point=True)
    b.requant("out", "conv", bits=12, frac=6)
    _check_layer(b.graph(), simd, 32, 0)


@pytest.mark.parametrize("simd", [8, 32])
def test_pixels_of_several_words_step_at_the_image_edges(simd):
    # 16 channels of 12-bit values, two to a 32-bit word: a position takes several words,
    # and a window's last in-image column is followed by padding
    b = Builder(simd)
    x = b.input("in", 6, 6)
    b.conv("c1", x, 16, k=1, s=1, p=0, fmt="int8", wbits=8, zero_point=True)
    b.requant("r1", "c1", bits=12, frac=6)
    b.conv("c2", "r1", 4, k=3, s=1, p=1, fmt="int8", wbits=8)
    b.requant("out", "c2", bits=12, frac=6)
    _check_layer(b.graph(), simd, 32, 1)


def _check_layer(graph, simd: int, mem_bits: int, which: int) -> None:
    cfg = EngineConfig(pe=4, simd=simd, mem_bits=max(mem_bits, 32))
    layer = [la for la in compile_layers(graph, cfg).layers if la.kind == "conv"][which]
    head = graph.node(layer.name)
    xt = graph.node(head.inputs[0]).type
    sb = storage_bits(xt.bits)
    if sb > mem_bits:
        mem_bits = 64
    d = conv_dims(graph, layer)
    _, wpp = MemoryImage(mem_bits).tensor_layout(xt)
    epw = per_word(sb, mem_bits)
    base = 1000
    cmds, want = [], []
    for pix in range(0, d["OH"] * d["OW"], 2):
        oy, ox = divmod(pix, d["OW"])
        for ch in chunks(d["I"], d["k"], simd):
            ky, kx, ci = lane_terms(ch, d["I"], d["k"])
            cmds.append({"iy0": oy * d["s"] - d["p"], "ix0": ox * d["s"] - d["p"],
                         "ky0": int(ky[0]), "kx0": int(kx[0]), "c0": int(ci[0]), "n": ch.n})
            segs = list(segments(ch, oy, ox, cin=d["I"], k=d["k"], stride=d["s"], pad=d["p"],
                                 h=d["H"], w=d["W"], bits=sb, words_per_pixel=wpp,
                                 mem_bits=mem_bits))
            for n, s in enumerate(segs):
                want.append((int(s.word < 0), base + s.word if s.word >= 0 else None, s.lane0,
                             s.count, s.bit0 // sb, int(n == len(segs) - 1)))
    dut = SegmentGenerator(simd)
    got = []

    async def bench(ctx):
        for key, v in (("cin", d["I"]), ("k", d["k"]), ("h", d["H"]), ("w", d["W"]),
                       ("epw", epw), ("wpp", wpp), ("base", base)):
            ctx.set(getattr(dut, key), v)
        await ctx.tick()  # constants settle one cycle ahead of the first command
        rng = np.random.default_rng(simd)
        todo, t = list(cmds), 0
        while len(got) < len(want):
            offer = bool(todo) and rng.random() < 0.8
            ready = int(rng.random() < 0.7)
            if offer:
                for key, v in todo[0].items():
                    ctx.set(getattr(dut, key), v)
            ctx.set(dut.cmd_valid, int(offer))
            ctx.set(dut.ready, ready)
            if offer and ctx.get(dut.cmd_ready):
                todo.pop(0)
            if ready and ctx.get(dut.valid):
                pad = ctx.get(dut.is_pad)
                got.append((pad, None if pad else ctx.get(dut.addr), ctx.get(dut.lane0),
                            ctx.get(dut.count), 0 if pad else ctx.get(dut.e0),
                            ctx.get(dut.last)))
            await ctx.tick()
            t += 1
            assert t < 10 * len(want) + 100, "segment generator stuck"

    run_sim(dut, bench)
    assert got == want


def test_segment_generator_streams_one_segment_chunks_at_one_per_cycle():
    """1 x 1 windows of 4 channels in 4-element words: one segment per chunk, and after the
    prep pipeline fills, one segment every cycle."""
    dut = SegmentGenerator(4)
    n_cmd = 40
    seen = []

    async def bench(ctx):
        for key, v in (("cin", 4), ("k", 1), ("h", 8), ("w", 8), ("epw", 4), ("wpp", 1),
                       ("base", 0)):
            ctx.set(getattr(dut, key), v)
        await ctx.tick()
        ctx.set(dut.ready, 1)
        sent = 0
        for t in range(n_cmd + 30):
            ctx.set(dut.cmd_valid, int(sent < n_cmd))
            ctx.set(dut.iy0, sent // 8)
            ctx.set(dut.ix0, sent % 8)
            ctx.set(dut.n, 4)
            if sent < n_cmd and ctx.get(dut.cmd_ready):
                sent += 1
            if ctx.get(dut.valid):
                seen.append((t, ctx.get(dut.addr)))
            await ctx.tick()

    run_sim(dut, bench)
    assert [a for _, a in seen] == list(range(n_cmd))
    times = [t for t, _ in seen]
    assert times[-1] - times[0] == n_cmd - 1  # no bubble once started
