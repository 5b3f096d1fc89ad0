"""Compiler + engine model: every tensor the engine writes equals the reference executor's,
for real lowered networks and seeded random graphs over many engine shapes."""

import numpy as np
import pytest
import torch
from ir_fixtures import Builder, small_graph
from test_lower import perturbed, smooth_images

from models import build_model
from n2uq_hw.errors import N2UQError
from n2uq_hw.lower import calibrate_bn, lower_model
from n2uq_hw.lower.lowering import CIFAR_NORM, IMAGENET_NORM, normalise
from n2uq_hw.reference import run_ir
from rtl_gen.compile.chunks import chunks, lane_index
from rtl_gen.compile.emit import emit, hw_thresholds
from rtl_gen.compile.image import MemoryImage, pack, row_words, unpack
from rtl_gen.compile.perf import program_perf, summary
from rtl_gen.compile.program import compile_layers
from rtl_gen.config import EngineConfig
from rtl_gen.engine_model import run_program
from rtl_gen.generate import widths


def _check(graph, cfg, images):
    prog = compile_layers(graph, cfg)
    env = run_program(prog, images)
    ref = run_ir(graph, images)
    assert graph.output in env
    for name, v in env.items():
        assert torch.equal(v, ref[name]), name
    return prog


@pytest.mark.parametrize(("name", "seed"), [("smallcnn_w2a2", 0), ("smallcnn_w3a3", 1),
                                            ("smallcnn_w4a4", 2), ("resnet20_w2a2", 3),
                                            ("resnet20_w3a3_fpds", 4)])
def test_engine_model_is_exact_on_lowered_cifar_models(name, seed):
    model = perturbed(name, seed)
    res = lower_model(model, smooth_images(8, 32, seed), mean=CIFAR_NORM[0], std=CIFAR_NORM[1])
    _check(res.graph, EngineConfig(pe=8, simd=16), smooth_images(2, 32, 50 + seed))


@pytest.mark.parametrize(("name", "seed", "opts"), [
    ("resnet18_w2a2", 11, {}), ("resnet34_w3a3_fpds", 12, {}),
    ("resnet50_w4a4", 13, {}),
    ("resnet18_w2a2", 14, {"stem_bits": 24, "input_shift": 8, "residual_bits": 24})])
def test_engine_model_is_exact_on_imagenet_resnets_at_reduced_size(name, seed, opts):
    torch.manual_seed(seed)
    model = build_model(name)
    calib = smooth_images(4, 64, seed)
    calibrate_bn(model, normalise(calib, *IMAGENET_NORM), batches=1)
    res = lower_model(model, calib, mean=IMAGENET_NORM[0], std=IMAGENET_NORM[1], **opts)
    _check(res.graph, EngineConfig(pe=16, simd=32), smooth_images(1, 64, 70 + seed))


CONFIGS = [tuple(int(v) for v in row) for row in
           np.random.default_rng(7).integers([1, 1, 1, 1], [33, 65, 4, 4], (24, 4))]


@pytest.mark.parametrize(("seed", "cfg"), list(enumerate(CONFIGS)))
def test_engine_model_is_exact_on_random_graphs_and_engine_shapes(seed, cfg):
    """int8 conv with zero points, odd-weight conv, two-sided thresholds, residual add,
    RPReLU, max pool, sum pool and an FC on an accumulator, on 24 seeded engine shapes
    (PE, SIMD, activation and weight digit widths 1..3)."""
    pe, simd, a, w = cfg
    graph = small_graph(seed)
    img = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (2, 3, 8, 8))).to(
        torch.uint8)
    _check(graph, EngineConfig(pe=pe, simd=simd, a_bits=a, w_bits=w), img)


def _lowered(name, size, seed=0, **opts):
    torch.manual_seed(seed)
    model = build_model(name)
    norm = IMAGENET_NORM if size > 32 else CIFAR_NORM
    calib = smooth_images(2, size, seed)
    calibrate_bn(model, normalise(calib, *norm), batches=1)
    return lower_model(model, calib, mean=norm[0], std=norm[1], **opts).graph


def test_resnet20_layers_fuse_the_epilogue_chain():
    graph = _lowered("resnet20_w2a2", 32)
    prog = compile_layers(graph, EngineConfig())
    ops = [[graph.node(n).op for n in layer.nodes] for layer in prog.layers]
    assert ops[0] == ["conv2d", "requant", "threshold"]
    assert ["conv2d", "requant", "add", "rprelu", "threshold"] in ops
    # a block output feeding both the next block and its downsample quantizer: two banks
    assert ["conv2d", "requant", "add", "rprelu", "threshold", "threshold"] in ops
    assert all(o[0] in ("conv2d", "linear", "avgpool_sum", "maxpool", "threshold")
               for o in ops)
    fused = {n for layer in prog.layers for n in layer.nodes}
    assert fused == {n.name for n in graph.nodes} - {graph.input}


def test_resnet18_predicted_utilisation_meets_the_goal():
    """Issue 4's goal: at least 85% predicted MAC-array utilisation for resnet18_w2a2 on the
    default ecp5-85k engine (16 x 32, serial epilogue), from the model that follows the
    engine within 2% of Verilator per layer. A 32 x 32 array (which does not fit the
    device) gives 78.8%: the 16-bit max-pool input and the 8-bit stem's digit passes weigh
    more there (docs/BENCHMARKS.md)."""
    graph = _lowered("resnet18_w2a2", 224)
    cfg = EngineConfig.for_target("ecp5-85k")
    assert (cfg.pe, cfg.simd, cfg.epi) == (16, 32, 4)
    prog = compile_layers(graph, cfg)
    s = summary(program_perf(prog), 150.0)
    assert s["utilisation"] >= 0.85, s
    assert s["macs"] == 1_814_073_344


@pytest.mark.parametrize("bits", [1, 2, 3, 8, 13, 16, 24, 32])
def test_pack_unpack_round_trip(bits):
    rng = np.random.default_rng(bits)
    v = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (5, 13)) if bits > 1 else \
        rng.integers(0, 2, (5, 13))
    words = row_words(13, bits, 32)
    assert words == -(-13 // (32 // bits))
    buf = pack(v, bits, words, 32)
    assert len(buf) == 5 * words * 4
    assert np.array_equal(unpack(buf, 5, 13, bits, words, 32, signed=bits > 1), v)


@pytest.mark.parametrize(("pe", "simd"), [(3, 5), (4, 32), (8, 2)])
def test_memory_image_holds_weights_in_stream_order(pe, simd):
    """Decode every weight block back to (o, ci, ky, kx) through the chunk lane map."""
    graph = small_graph(3)
    cfg = EngineConfig(pe=pe, simd=simd)
    prog = compile_layers(graph, cfg)
    img, pj = emit(prog, program_perf(prog), descriptors=False)
    blob = img.to_bytes()
    for layer in (la for la in prog.layers if la.kind == "conv"):
        r = img.regions[f"{layer.name}.weights"]
        words = row_words(cfg.pe * cfg.simd, cfg.w_bits, cfg.mem_bits)
        rows = unpack(blob[r.offset: r.offset + r.size], r.info["blocks"], cfg.pe * cfg.simd,
                      cfg.w_bits, words, cfg.mem_bits, signed=False)
        wu = layer.plan.wu
        o, i, k, _ = wu.shape
        chs = chunks(i, k, cfg.simd)
        blocks = rows.reshape(-1, len(chs), layer.plan.w_digits, cfg.pe, cfg.simd)
        value = sum(blocks[:, :, e] << (cfg.w_bits * e) for e in range(layer.plan.w_digits))
        seen = np.zeros(wu.size, bool)
        for kc, ch in enumerate(chs):
            idx = lane_index(ch, i, k, cfg.simd)
            for oc in range(blocks.shape[0] * cfg.pe):
                lanes = value[oc // cfg.pe, kc, oc % cfg.pe]
                if oc >= o:
                    assert not lanes.any()
                    continue
                used = idx >= 0
                assert np.array_equal(lanes[used], wu[oc].reshape(-1)[idx[used]])
                assert not lanes[~used].any()
                seen[oc * i * k * k + idx[used]] = True
        assert seen.all()  # every weight appears exactly where the lane map says
        entry = pj["layers"][layer.index]
        assert entry["conv"]["weights"] == r.offset


def test_elements_never_straddle_words():
    buf = pack(np.array([[1, 2, 3]]), 13, 2, 32)  # two per 32-bit word, bits 26..31 unused
    w0, w1 = int.from_bytes(buf[:4], "little"), int.from_bytes(buf[4:], "little")
    assert (w0 & 0x1FFF, w0 >> 13 & 0x1FFF, w0 >> 26, w1) == (1, 2, 0, 3)
    wide = pack(np.array([[-5, 7]]), 40, row_words(2, 40, 32), 32)  # two words each
    assert len(wide) == 16
    assert np.array_equal(unpack(wide, 1, 2, 40, 4, 32, signed=True), [[-5, 7]])


def test_memory_image_tensor_layout_round_trip():
    img = MemoryImage(64)
    graph = small_graph(1)
    t = graph.node("bn1").type
    v = np.random.default_rng(0).integers(t.min, t.max + 1, t.shape)
    img.alloc("pad", "tensor", 24)
    img.alloc_tensor("bn1", t)
    b = img.tensor_bytes(t, v)
    blob = bytes(img.regions["bn1"].offset) + b
    assert np.array_equal(img.read_tensor(blob, "bn1", t), v)


@pytest.mark.parametrize(("kw", "msg"), [
    ({"pe": 0}, "--pe must be an integer in 1..256"),
    ({"a_bits": 5}, "--a-bits must be an integer in 1..4"),
    ({"target": "ice40-up5k", "pe": 64, "simd": 64}, "do not fit ice40-up5k"),
    ({"target": "nope"}, "unknown target 'nope'")])
def test_engine_config_rejects_bad_values(kw, msg):
    with pytest.raises(N2UQError, match=msg):
        EngineConfig(**kw)


def _two_branch_graph(seed=0, add_frac=6, mult_scale=1):
    """Two conv -> requant -> RPReLU branches joined by an add that heads its own layer."""
    b = Builder(seed)
    x = b.input("in", 6, 6)
    p = []
    for i in range(2):
        y = b.conv(f"c{i}", x, 4, k=3, s=1, p=1, fmt="int8", wbits=8, zero_point=True)
        y = b.requant(f"r{i}", y, bits=12, frac=6)
        b.nodes[-1].arrays["multiplier"] *= mult_scale
        p.append(b.rprelu(f"p{i}", y, bits=13))
    b.add("sum", p[0], p[1], bits=13, frac=add_frac)
    return b.graph()


def test_a_layer_may_start_at_a_residual_add():
    graph = _two_branch_graph()
    prog = compile_layers(graph, EngineConfig(pe=2, simd=4))
    assert [graph.node(la.name).op for la in prog.layers][-1] == "add"
    _, pj = emit(prog, program_perf(prog), descriptors=False)
    assert pj["layers"][-1]["epilogue"][0]["chain_operand"] == 0
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 6, 6))).to(torch.uint8)
    _check(graph, EngineConfig(pe=2, simd=4), x)


@pytest.mark.parametrize(("kw", "msg"), [
    ({"add_frac": 30}, "shift_a = 24 beyond the engine's"),
])
def test_ir_beyond_the_engine_is_one_error(kw, msg):
    graph = _two_branch_graph(**kw)
    with pytest.raises(N2UQError, match=msg):
        compile_layers(graph, EngineConfig(pe=2, simd=4))


def test_thresholds_clamp_to_the_comparator_width():
    node = small_graph(0).node("act1")
    pos, neg = hw_thresholds(node, 4)
    assert pos.min() >= -8 and pos.max() <= 8 and neg.min() >= -9 and neg.max() <= 7
    v = np.arange(-8, 8)
    for c in range(pos.shape[0]):
        for lv in range(pos.shape[1]):
            assert np.array_equal(v >= node.arrays["pos"][c, lv], v >= pos[c, lv])
            assert np.array_equal(v <= node.arrays["neg"][c, lv], v <= neg[c, lv])


def test_components_beyond_their_limits_are_one_error():
    graph = _two_branch_graph(mult_scale=2**30)  # ~43-bit requantisation multipliers
    prog = compile_layers(graph, EngineConfig(pe=2, simd=4))
    with pytest.raises(N2UQError, match=r"needs 4\d-bit mult values; the engine supports 40"):
        widths(prog)
