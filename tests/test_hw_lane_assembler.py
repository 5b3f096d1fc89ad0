"""LaneAssembler fed the fetch contract's segments over a real memory image: every chunk's
lanes and pad mask equal the schedule's window values, for codes, pixels and fixed point."""

import numpy as np
import pytest
import torch
from hw_sim import stream
from ir_fixtures import small_graph

from rtl_gen.compile.chunks import chunks, lane_terms
from rtl_gen.compile.fetch import segments
from rtl_gen.compile.image import MemoryImage, storage_bits
from rtl_gen.compile.program import compile_layers, conv_dims
from rtl_gen.config import EngineConfig
from rtl_gen.engine_model import run_program
from rtl_gen.hw.lane_assembler import LaneAssembler


@pytest.mark.parametrize(("simd", "mem_bits", "which"), [(8, 32, 0), (5, 32, 1), (16, 64, 0),
                                                         (4, 64, 2)])
def test_lane_assembler_builds_the_schedule_lanes(simd, mem_bits, which):
    graph = small_graph(simd)
    cfg = EngineConfig(pe=4, simd=simd, mem_bits=mem_bits)
    prog = compile_layers(graph, cfg)
    img = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (1, 3, 8, 8))).to(
        torch.uint8)
    env = run_program(prog, img)
    layer = [la for la in prog.layers if la.kind == "conv"][which]
    head = graph.node(layer.name)
    xt = graph.node(head.inputs[0]).type
    sb = storage_bits(xt.bits)
    x = env[head.inputs[0]][0].numpy().reshape(xt.shape)
    mi = MemoryImage(mem_bits)
    blob = mi.tensor_bytes(xt, x)
    nb = mem_bits // 8
    words = [int.from_bytes(blob[i: i + nb], "little") for i in range(0, len(blob), nb)]
    _, wpp = mi.tensor_layout(xt)
    d = conv_dims(graph, layer)
    xin = x if x.ndim == 3 else x.reshape(-1, 1, 1)
    dut = LaneAssembler(simd, sb, mem_bits)
    beats, want = [], []
    for pix in range(0, d["OH"] * d["OW"], 3):
        oy, ox = divmod(pix, d["OW"])
        for ch in chunks(d["I"], d["k"], simd):
            segs = list(segments(ch, oy, ox, cin=d["I"], k=d["k"], stride=d["s"], pad=d["p"],
                                 h=d["H"], w=d["W"], bits=sb, words_per_pixel=wpp,
                                 mem_bits=mem_bits))
            for n, s in enumerate(segs):
                beats.append({"last": int(n == len(segs) - 1), "is_pad": int(s.word < 0),
                              "word": words[s.word] if s.word >= 0 else 0,
                              "lane0": s.lane0, "count": s.count,
                              "e0": s.bit0 // sb})
            ky, kx, ci = lane_terms(ch, d["I"], d["k"])
            y, xx = oy * d["s"] + ky - d["p"], ox * d["s"] + kx - d["p"]
            inside = (y >= 0) & (y < d["H"]) & (xx >= 0) & (xx < d["W"])
            lanes = np.zeros(simd, np.int64)
            raw = xin[ci, np.clip(y, 0, d["H"] - 1), np.clip(xx, 0, d["W"] - 1)]
            lanes[: ch.n] = np.where(inside, raw & ((1 << sb) - 1), 0)
            padm = np.zeros(simd, np.int64)
            padm[: ch.n] = ~inside
            want.append((lanes.tolist(), int(sum(int(b) << j for j, b in enumerate(padm)))))
    got = stream(dut, beats, {}, {"lanes": (simd,), "pad": ()}, dut.latency)
    assert [(g["lanes"], g["pad"]) for g in got] == want


def test_lane_assembler_rejects_elements_wider_than_words():
    with pytest.raises(ValueError, match="do not fit"):
        LaneAssembler(4, 40, 32)


@pytest.mark.parametrize(("bits", "mem_bits"), [(2, 64), (8, 64), (32, 32), (16, 64)])
def test_lane_assembler_latency_is_known_without_building_and_can_be_raised(bits, mem_bits):
    from rtl_gen.hw.lane_assembler import assembler_latency

    dut = LaneAssembler(4, bits, mem_bits)
    assert dut.latency == assembler_latency(bits, mem_bits)
    assert LaneAssembler(4, bits, mem_bits, min_latency=6).latency == max(6, dut.latency)
