"""The fetch contract: segments read from the memory image rebuild exactly the lanes of the
beat schedule, for every chunk of every output pixel of real layers."""

import numpy as np
import pytest
import torch
from ir_fixtures import small_graph
from test_lower import smooth_images

from models import build_model
from n2uq_hw.lower import calibrate_bn, lower_model
from n2uq_hw.lower.lowering import IMAGENET_NORM, normalise
from rtl_gen.compile.chunks import chunks, fetch_words, lane_terms
from rtl_gen.compile.fetch import assemble, segments
from rtl_gen.compile.image import MemoryImage, storage_bits
from rtl_gen.compile.program import compile_layers, conv_dims
from rtl_gen.compile.schedule import padded_input
from rtl_gen.config import EngineConfig
from rtl_gen.engine_model import run_program


def _check_layers(graph, cfg, images, max_pixels=40):
    prog = compile_layers(graph, cfg)
    env = run_program(prog, images)
    checked = 0
    for layer in (la for la in prog.layers if la.kind == "conv"):
        head = graph.node(layer.name)
        xt = graph.node(head.inputs[0]).type
        sb = storage_bits(xt.bits)
        x = env[head.inputs[0]][0].numpy()
        img = MemoryImage(cfg.mem_bits)
        img.alloc_tensor("x", xt)
        blob = img.tensor_bytes(xt, x.reshape(xt.shape))
        wb = cfg.mem_bits // 8
        words = [int.from_bytes(blob[i: i + wb], "little") for i in range(0, len(blob), wb)]
        d = conv_dims(graph, layer)
        _, wpp = img.tensor_layout(xt)
        xin = x if x.ndim == 3 else x.reshape(-1, 1, 1)
        xu = padded_input(layer.plan, xin, d["p"])
        rng = np.random.default_rng(0)
        pix = rng.choice(d["OH"] * d["OW"], min(max_pixels, d["OH"] * d["OW"]), replace=False)
        for pidx in pix:
            oy, ox = divmod(int(pidx), d["OW"])
            for ch in chunks(d["I"], d["k"], cfg.simd):
                segs = list(segments(ch, oy, ox, cin=d["I"], k=d["k"], stride=d["s"],
                                     pad=d["p"], h=d["H"], w=d["W"], bits=sb,
                                     words_per_pixel=wpp, mem_bits=cfg.mem_bits))
                got = assemble(segs, words, simd=cfg.simd, bits=sb, signed=xt.signed,
                               ox=layer.plan.ox, input_shift=layer.plan.input_shift,
                               in_offset=layer.plan.in_offset)
                ky, kx, ci = lane_terms(ch, d["I"], d["k"])
                want = np.zeros(cfg.simd, np.int64)
                want[: ch.n] = xu[ci, oy * d["s"] + ky, ox * d["s"] + kx]
                assert np.array_equal(got, want), (layer.name, oy, ox, ch)
                reads = sum(1 for s in segs if s.word >= 0)
                assert reads <= fetch_words(ch, d["I"], d["k"], sb, cfg.mem_bits)
                checked += 1
    assert checked > 0


@pytest.mark.parametrize(("pe", "simd", "mem_bits"), [(4, 8, 32), (3, 16, 64), (8, 32, 64),
                                                      (2, 5, 32)])
def test_segments_rebuild_the_schedule_lanes_on_random_graphs(pe, simd, mem_bits):
    graph = small_graph(pe + simd)
    img = torch.from_numpy(np.random.default_rng(simd).integers(0, 256, (1, 3, 8, 8))).to(
        torch.uint8)
    _check_layers(graph, EngineConfig(pe=pe, simd=simd, mem_bits=mem_bits), img)


def test_segments_rebuild_the_schedule_lanes_on_resnet18():
    torch.manual_seed(0)
    model = build_model("resnet18_w2a2")
    calib = smooth_images(2, 64, 0)
    calibrate_bn(model, normalise(calib, *IMAGENET_NORM), batches=1)
    graph = lower_model(model, calib, mean=IMAGENET_NORM[0], std=IMAGENET_NORM[1]).graph
    _check_layers(graph, EngineConfig.for_target("ecp5-85k"), smooth_images(1, 64, 5),
                  max_pixels=6)
