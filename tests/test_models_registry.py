"""Registry names, errors, and that every registry model builds and runs."""

import pytest
import torch
from torch import nn

from models import build_model, known_models, parse_model_name
from n2uq_hw.errors import N2UQError
from n2uq_hw.quant import N2UQActQuant, N2UQWeightQuant
from n2uq_hw.quant.lsq import LSQActQuant

# torchvision's resnet18/34/50 parameter counts; ResNet-20 with 1x1-conv downsampling
# (He et al. option B): 269,722 for option A plus 2 x (1x1 conv + BN) = 2,752.
STANDARD_COUNTS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet20": 269_722 + 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64,
}


def standard_params(model: nn.Module) -> int:
    """Conv, BN and FC parameters: what a plain ResNet of the same shape has."""
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)
    return sum(
        p.numel() for m in model.modules() if isinstance(m, kinds) for p in m.parameters(False)
    )


@pytest.mark.parametrize("name", known_models())
def test_every_registry_model_builds_and_runs(name):
    model = build_model(name).eval()
    size = model.info.input_size
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, model.info.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", sorted(STANDARD_COUNTS))
@pytest.mark.parametrize("suffix", ["fp", "w2a2", "w4a4_fpds", "w2a2_lsq"])
def test_resnet_parameter_counts_match_standard(arch, suffix):
    assert standard_params(build_model(f"{arch}_{suffix}")) == STANDARD_COUNTS[arch]


def test_names_map_to_methods_and_bits():
    info = parse_model_name("resnet18_w3a3")
    assert (info.spec.method, info.spec.wbits, info.spec.abits) == ("n2uq", 3, 3)
    assert info.downsample == "quant" and info.input_size == 224
    assert parse_model_name("resnet20_w2a2_fpds").downsample == "fp"
    assert parse_model_name("resnet50_w4a4_lsq").spec.method == "lsq"
    assert parse_model_name("resnet20_w2a2_dorefa").spec.method == "dorefa"
    assert not parse_model_name("resnet34_fp").spec.quantized
    assert parse_model_name("smallcnn_w8a4").spec.wbits == 8


def test_quantizer_kinds_and_counts():
    model = build_model("resnet20_w2a2")
    acts = [m for m in model.modules() if isinstance(m, N2UQActQuant)]
    weights = [m for m in model.modules() if isinstance(m, N2UQWeightQuant)]
    # 18 block convs + 2 quantized downsample convs, each with its own quantizers
    assert len(acts) == len(weights) == 20
    assert any(isinstance(m, LSQActQuant) for m in build_model("resnet20_w2a2_lsq").modules())
    fp = build_model("resnet20_fp")
    assert not any(getattr(m, "is_quantizer", False) for m in fp.modules())


def test_fp_twin_keys_are_quantized_keys_minus_quantizer_state():
    q = set(build_model("resnet20_w2a2").state_dict())
    fp = set(build_model("resnet20_fp").state_dict())
    assert fp < q
    assert all(".quant." in k for k in q - fp)


@pytest.mark.parametrize(
    "name,needle",
    [
        ("resnet19_w2a2", "unknown model"),
        ("resnet18", "unknown model"),
        ("resnet18_w5a5", "out of range"),
        ("resnet18_w2a1", "out of range"),
        ("resnet18_w2a2_foo", "unknown variant"),
        ("resnet18_fp_lsq", "no variant"),
        ("smallcnn_w2a2_fpds", "no downsample"),
        ("", "unknown model"),
    ],
)
def test_bad_names_fail_with_one_line(name, needle):
    with pytest.raises(N2UQError) as exc:
        build_model(name)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg
    if "unknown model" in needle:
        assert "resnet18_w2a2" in msg  # lists the known names
