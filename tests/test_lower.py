"""Lowering of whole models: every node checked in isolation against the float model."""

import numpy as np
import pytest
import torch

from models import build_model
from n2uq_hw.errors import N2UQError
from n2uq_hw.ir.validate import validate
from n2uq_hw.lower import calibrate_bn, lower_model, trace
from n2uq_hw.lower.check import end_to_end, isolated
from n2uq_hw.lower.lowering import CIFAR_NORM, IMAGENET_NORM, normalise
from n2uq_hw.quant import N2UQActQuant


def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g)
    return (torch.nn.functional.interpolate(coarse, size=size, mode="bilinear") * 255).to(
        torch.uint8)


def perturbed(name: str, seed: int) -> torch.nn.Module:
    """A seeded model with BN calibrated on synthetic images, then stressed: negative BN
    scales, PReLU slopes <= 0, unequal and clamped quantizer lengths, beta != 1."""
    torch.manual_seed(seed)
    model = build_model(name)
    calibrate_bn(model, normalise(smooth_images(32, 32, seed), *CIFAR_NORM))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                flip = torch.from_numpy(rng.random(mod.num_features) < 0.2)
                mod.weight[flip] *= -1
            if isinstance(mod, torch.nn.PReLU):
                pick = torch.from_numpy(rng.random(mod.weight.numel()) < 0.2)
                mod.weight[pick] = torch.from_numpy(
                    rng.choice([-0.3, 0.0], mod.weight.numel())).float()[pick]
            if isinstance(mod, N2UQActQuant):
                mod.a.mul_(torch.from_numpy(rng.uniform(0.5, 1.5, mod.a.numel())).float())
                mod.a[0] = 5e-4 if rng.random() < 0.3 else mod.a[0]
                mod.s.fill_(float(rng.uniform(-0.3, 0.2)))
                mod.beta1.fill_(float(rng.uniform(0.7, 1.3)))
                mod.beta2.fill_(float(rng.uniform(0.7, 1.3)))
    return model.eval()


def assert_isolated(graph, refs, pixels, ties) -> list[dict]:
    """The isolation checks every lowered model must pass; returns the rows that no
    check here covers (fixed-point nodes other than odd-weight convs) for extra checks."""
    odd = {n.name for n in graph.nodes if n.attrs.get("weight_format") == "odd"}
    rest = []
    for row in isolated(graph, refs, pixels, ties):
        if row["kind"] == "code" and row["input_kind"] == "acc":
            # BN + RPReLU + quantizer folded into integer thresholds: exact but for ties
            # (float model's u within TIE_EPS of a threshold, where float32 decides)
            assert row["mismatches_beyond_ties"] == 0, row
        elif row["kind"] == "code":
            # thresholds on a 16-bit fixed-point value: differ only within its rounding
            assert row["agreement"] >= 0.995, row
        elif row["node"] in odd:
            assert row["max_error_lsb"] < 1e-2, row  # integer conv == float conv / scale
        else:
            rest.append(row)
    return rest


CASES = [("smallcnn_w2a2", 0), ("smallcnn_w3a3", 1), ("smallcnn_w4a4", 2),
         ("resnet20_w2a2", 3), ("resnet20_w3a3_fpds", 4), ("resnet20_w4a4", 5)]


@pytest.mark.parametrize("name,seed", CASES)
def test_every_node_matches_the_float_model_in_isolation(name, seed):
    model = perturbed(name, seed)
    calib = smooth_images(16, 32, 100 + seed)
    res = lower_model(model, calib, mean=CIFAR_NORM[0], std=CIFAR_NORM[1])
    validate(res.graph)
    pixels = smooth_images(8, 32, 200 + seed)
    tr = trace(model, res.graph, pixels)
    refs = tr.refs
    assert any("neg" in n.arrays for n in res.graph.nodes if n.op == "threshold")
    for row in assert_isolated(res.graph, refs, pixels, tr.ties):
        if row["kind"] == "fixed" and not row["node"].startswith("stem") and (
                "shortcut" not in row["node"] or "_fpds" not in name):
            # 8-bit weights (first conv, full-precision shortcut) are approximations; the
            # rest rounds once to the output format (plus the multiplier's 2^-15)
            assert row["max_error_lsb"] <= 3.0, row


def test_trace_reproduces_the_same_graph():
    model = perturbed("resnet20_w2a2", 7)
    res = lower_model(model, smooth_images(16, 32, 1), mean=CIFAR_NORM[0], std=CIFAR_NORM[1])
    again = lower_model(model, smooth_images(16, 32, 1), mean=CIFAR_NORM[0], std=CIFAR_NORM[1])
    assert [n.to_json() for n in res.graph.nodes] == [n.to_json() for n in again.graph.nodes]
    e2e = end_to_end(res.graph, res.refs, smooth_images(16, 32, 1))
    assert set(e2e["codes"]) == {n.name for n in res.graph.nodes if n.op == "threshold"}


def test_only_n2uq_models_lower():
    with pytest.raises(N2UQError, match="lsq"):
        lower_model(build_model("smallcnn_w2a2_lsq"), smooth_images(2, 32, 0),
                    mean=CIFAR_NORM[0], std=CIFAR_NORM[1])


@pytest.mark.parametrize("name,seed", [("resnet18_w2a2", 11), ("resnet34_w3a3_fpds", 12),
                                       ("resnet50_w4a4", 13)])
def test_imagenet_resnets_lower_at_reduced_size(name, seed):
    """Every layer kind of the ImageNet ResNets (7x7/2 stem, max pool, 3x3 stride 1 and 2,
    1x1 and bottleneck convs, both shortcut kinds, average pool, FC) at 64x64 input."""
    torch.manual_seed(seed)
    model = build_model(name)
    norm = IMAGENET_NORM
    calib = smooth_images(4, 64, seed)
    calibrate_bn(model, normalise(calib, *norm), batches=1)
    res = lower_model(model, calib, mean=norm[0], std=norm[1])
    validate(res.graph)
    ops = {n.op for n in res.graph.nodes}
    assert ops == {"input", "conv2d", "requant", "threshold", "add", "rprelu", "maxpool",
                   "avgpool_sum", "linear"}
    pixels = smooth_images(2, 64, 100 + seed)
    tr = trace(model, res.graph, pixels)
    refs = tr.refs
    assert_isolated(res.graph, refs, pixels, tr.ties)


def test_precise_first_conv_options():
    """16-bit first-conv weights and input_shift 8: still valid and closer to the float
    model at the first quantizer than the default 8-bit, unshifted first conv."""
    model = perturbed("resnet20_w2a2", 21)
    calib, pixels = smooth_images(8, 32, 3), smooth_images(8, 32, 4)
    agree = {}
    for stem_bits, shift in ((8, 0), (16, 8)):
        res = lower_model(model, calib, mean=CIFAR_NORM[0], std=CIFAR_NORM[1],
                          stem_bits=stem_bits, input_shift=shift, residual_bits=24)
        validate(res.graph)
        stem = res.graph.node("stem.conv")
        assert stem.attrs.get("input_shift", 0) == shift
        assert stem.attrs["weight_bits"] == stem_bits
        tr = trace(model, res.graph, pixels)
        e2e = end_to_end(res.graph, tr.refs, pixels)
        agree[stem_bits] = e2e["codes"]["stages.0.0.unit1.quant"]
    assert agree[16] >= agree[8]
    assert agree[16] > 0.999
