"""QuantSpec, check_bits, the quantizer interfaces and quantizer_parameters."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from n2uq_hw.errors import N2UQError
from n2uq_hw.quant import (
    ActQuantizer,
    DoReFaActQuant,
    DoReFaWeightQuant,
    LSQActQuant,
    LSQWeightQuant,
    N2UQActQuant,
    N2UQWeightQuant,
    QConv2d,
    QuantSpec,
    RPReLU,
    WeightQuantizer,
    check_bits,
    quantizer_parameters,
)

GOOD_BITS = (2, 3, 4, 8)
BAD_BITS = (0, 1, 5, 6, 7, 9, 16, 32, -2, "2", "two", True, False, 2.0, None, [2])
ALL_QUANTS = (
    N2UQActQuant,
    N2UQWeightQuant,
    LSQActQuant,
    LSQWeightQuant,
    DoReFaActQuant,
    DoReFaWeightQuant,
)


@pytest.mark.parametrize("bits", GOOD_BITS)
def test_check_bits_accepts(bits):
    assert check_bits(bits) == bits
    assert check_bits(bits, "weight bit width") == bits


@pytest.mark.parametrize("bits", BAD_BITS, ids=repr)
def test_check_bits_rejects(bits):
    with pytest.raises(N2UQError) as err:
        check_bits(bits, "activation bit width")
    msg = str(err.value)
    assert "supported: 2, 3, 4, 8" in msg
    assert "activation bit width" in msg
    assert repr(bits) in msg
    assert "\n" not in msg


def test_quant_spec_defaults_and_valid():
    spec = QuantSpec()
    assert (spec.method, spec.wbits, spec.abits) == ("n2uq", 2, 2)
    assert spec.quantized
    for method in ("n2uq", "lsq", "dorefa"):
        for wb in GOOD_BITS:
            for ab in GOOD_BITS:
                assert QuantSpec(method, wb, ab).quantized
    fp = QuantSpec("fp", None, None)
    assert not fp.quantized


def test_quant_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        QuantSpec().wbits = 3  # type: ignore[misc]


@pytest.mark.parametrize("bits", (1, 5, 16, "2", True, None))
def test_quant_spec_rejects_bits(bits):
    with pytest.raises(N2UQError, match=r"weight bit width .*supported: 2, 3, 4, 8"):
        QuantSpec("n2uq", bits, 2)
    with pytest.raises(N2UQError, match=r"activation bit width .*supported: 2, 3, 4, 8"):
        QuantSpec("lsq", 2, bits)


def test_quant_spec_rejects_method_and_fp_bits():
    with pytest.raises(N2UQError, match="unknown quantization method 'pact'"):
        QuantSpec("pact", 2, 2)
    with pytest.raises(N2UQError, match="n2uq, lsq, dorefa, fp"):
        QuantSpec("N2UQ", 2, 2)
    with pytest.raises(N2UQError, match="full-precision"):
        QuantSpec("fp", 2, 2)
    with pytest.raises(N2UQError, match="full-precision"):
        QuantSpec("fp", None, 4)
    with pytest.raises(N2UQError, match="full-precision"):
        QuantSpec("fp")  # default bits are 2, not None


@pytest.mark.parametrize("cls", ALL_QUANTS)
@pytest.mark.parametrize("bad", (1, 5, 16, "2", True))
def test_every_quantizer_rejects_bad_bits(cls, bad):
    with pytest.raises(N2UQError, match="supported: 2, 3, 4, 8"):
        cls(bad)


@pytest.mark.parametrize("cls", ALL_QUANTS)
@pytest.mark.parametrize("bits", GOOD_BITS)
def test_quantizer_interface(cls, bits):
    q = cls(bits)
    assert q.is_quantizer and q.bits == bits
    assert f"bits={bits}" in repr(q)
    if issubclass(cls, ActQuantizer):
        assert q.levels == 2**bits - 1
        x = torch.linspace(-1, 3, 50)
        y = q(x)  # LSQ initialises its step on the first forward pass
        codes = q.codes(x)
        assert codes.dtype == torch.int64
        assert int(codes.min()) >= 0 and int(codes.max()) <= q.levels
        torch.testing.assert_close(y, codes * q.output_step(), rtol=1e-6, atol=1e-7)
    else:
        assert issubclass(cls, WeightQuantizer)
        w = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(bits))
        y = q(w)  # LSQ initialises its step here
        m, scale = q.codes(w)
        assert m.dtype == torch.int64
        torch.testing.assert_close(y, m * scale, rtol=1e-5, atol=1e-6)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.act = N2UQActQuant(2)
        self.rp = RPReLU(3)
        self.conv = QConv2d(3, 4, 3, weight_quant=N2UQWeightQuant(2))
        self.bn = nn.BatchNorm2d(4)
        self.lsq_conv = QConv2d(4, 4, 1, weight_quant=LSQWeightQuant(4))
        self.lsq_act = LSQActQuant(4)
        self.shared = self.act  # the same quantizer reachable twice
        self.dorefa = DoReFaActQuant(2)
        self.fc = nn.Linear(4, 2)


def test_quantizer_parameters_finds_exactly_the_quantizer_params():
    net = _Net()
    got = quantizer_parameters(net)
    want = [
        net.act.s,
        net.act.a,
        net.act.beta1,
        net.act.beta2,
        net.lsq_conv.weight_quant.step,
        net.lsq_act.step,
    ]
    assert len(got) == len(want)
    assert {id(p) for p in got} == {id(p) for p in want}
    quant_ids = {id(p) for p in got}
    others = [n for n, p in net.named_parameters() if id(p) not in quant_ids]
    assert sorted(others) == sorted(
        [
            "rp.bias1.bias",
            "rp.prelu.weight",
            "rp.bias2.bias",
            "conv.weight",
            "bn.weight",
            "bn.bias",
            "lsq_conv.weight",
            "fc.weight",
            "fc.bias",
        ]
    )


def test_quantizer_parameters_of_plain_model_is_empty():
    assert quantizer_parameters(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())) == []
