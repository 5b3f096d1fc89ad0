"""QConv2d / QLinear: they compute with the quantized weight, plainly without a quantizer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from n2uq_hw.quant import (
    DoReFaWeightQuant,
    LSQWeightQuant,
    N2UQWeightQuant,
    QConv2d,
    QLinear,
)

QUANTS = {
    "n2uq": N2UQWeightQuant,
    "lsq": LSQWeightQuant,
    "dorefa": DoReFaWeightQuant,
}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("method", sorted(QUANTS))
@pytest.mark.parametrize("bits", (2, 4))
@pytest.mark.parametrize("stride,padding", ((1, 1), (2, 0), (2, 1)))
def test_qconv2d_uses_quantized_weight(method, bits, stride, padding):
    torch.manual_seed(bits)
    conv = QConv2d(4, 6, 3, stride=stride, padding=padding, weight_quant=QUANTS[method](bits))
    assert conv.bias is None
    x = torch.randn(2, 4, 9, 9, generator=gen(1))
    y = conv(x)
    wq = conv.weight_quant(conv.weight).detach()
    assert not torch.equal(wq, conv.weight.detach())  # really quantized
    torch.testing.assert_close(y, F.conv2d(x, wq, None, stride, padding), rtol=0, atol=0)
    m, scale = conv.weight_quant.codes(conv.weight)
    torch.testing.assert_close(
        y, F.conv2d(x, m * scale, None, stride, padding), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(conv.quantized_weight(), conv.weight_quant(conv.weight))


def test_qconv2d_n2uq_weight_gradient_is_ste():
    conv = QConv2d(3, 5, 3, padding=1, weight_quant=N2UQWeightQuant(2))
    x = torch.randn(2, 3, 6, 6, generator=gen(2))
    g = torch.randn(2, 5, 6, 6, generator=gen(3))
    conv(x).backward(g)
    # dL/dQ via autograd on a leaf copy of Q, then the STE: / alpha inside the clip range
    wq = conv.weight_quant(conv.weight).detach().requires_grad_(True)
    F.conv2d(x, wq, None, 1, 1).backward(g)
    w = conv.weight.detach()
    alpha = 1.5 * w.abs().mean(dim=(1, 2, 3), keepdim=True)
    inside = (w / alpha).abs() <= 1
    want = torch.where(inside, wq.grad / alpha, torch.zeros_like(w))
    torch.testing.assert_close(conv.weight.grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("stride,padding", ((1, 0), (2, 1)))
def test_qconv2d_without_quantizer_is_plain_conv(stride, padding):
    conv = QConv2d(4, 6, 3, stride=stride, padding=padding)
    ref = nn.Conv2d(4, 6, 3, stride=stride, padding=padding, bias=False)
    ref.weight.data.copy_(conv.weight.data)
    x = torch.randn(2, 4, 8, 8, generator=gen(4))
    torch.testing.assert_close(conv(x), ref(x), rtol=0, atol=0)
    assert conv.quantized_weight() is conv.weight
    assert conv.weight_quant is None


@pytest.mark.parametrize("method", sorted(QUANTS))
@pytest.mark.parametrize("bias", (True, False))
def test_qlinear_uses_quantized_weight(method, bias):
    lin = QLinear(10, 7, bias=bias, weight_quant=QUANTS[method](3))
    x = torch.randn(5, 10, generator=gen(5))
    y = lin(x)
    wq = lin.weight_quant(lin.weight).detach()
    assert not torch.equal(wq, lin.weight.detach())
    torch.testing.assert_close(y, F.linear(x, wq, lin.bias), rtol=0, atol=0)
    assert (lin.bias is not None) == bias
    y.sum().backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()


@pytest.mark.parametrize("bias", (True, False))
def test_qlinear_without_quantizer_is_plain_linear(bias):
    lin = QLinear(10, 7, bias=bias)
    ref = nn.Linear(10, 7, bias=bias)
    ref.load_state_dict(lin.state_dict())
    x = torch.randn(5, 10, generator=gen(6))
    torch.testing.assert_close(lin(x), ref(x), rtol=0, atol=0)
    assert lin.quantized_weight() is lin.weight


def test_state_dict_carries_quantizer_state():
    conv = QConv2d(2, 3, 1, weight_quant=LSQWeightQuant(4))
    assert set(conv.state_dict()) == {"weight", "weight_quant.step", "weight_quant.initialized"}
    assert set(QConv2d(2, 3, 1, weight_quant=N2UQWeightQuant(2)).state_dict()) == {"weight"}
    assert isinstance(conv, nn.Conv2d)
    assert isinstance(QLinear(2, 3), nn.Linear)
