"""RPReLU = LearnableBias -> per-channel PReLU -> LearnableBias."""

from __future__ import annotations

import pytest
import torch

from n2uq_hw.quant import LearnableBias, RPReLU


def test_rprelu_formula_4d():
    c = 5
    m = RPReLU(c)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        m.bias1.bias.copy_(torch.randn(1, c, 1, 1, generator=gen))
        m.prelu.weight.copy_(torch.randn(c, generator=gen))
        m.bias2.bias.copy_(torch.randn(1, c, 1, 1, generator=gen))
    x = torch.randn(2, c, 4, 3, generator=gen)
    b1 = m.bias1.bias.view(1, c, 1, 1)
    slope = m.prelu.weight.view(1, c, 1, 1)
    b2 = m.bias2.bias.view(1, c, 1, 1)
    z = x + b1
    want = torch.where(z >= 0, z, slope * z) + b2
    torch.testing.assert_close(m(x), want)


def test_rprelu_2d_input_and_init():
    m = RPReLU(3, init=0.1)
    assert torch.all(m.prelu.weight == 0.1)
    assert torch.all(m.bias1.bias == 0) and torch.all(m.bias2.bias == 0)
    x = torch.tensor([[-1.0, 2.0, -3.0]])
    torch.testing.assert_close(m(x), torch.tensor([[-0.1, 2.0, -0.3]]))
    assert sum(p.numel() for p in m.parameters()) == 9


def test_learnable_bias_per_channel():
    lb = LearnableBias(2)
    with torch.no_grad():
        lb.bias.copy_(torch.tensor([1.0, -2.0]).view(1, 2, 1, 1))
    assert torch.equal(lb(torch.zeros(1, 2, 2, 2))[0, 1], torch.full((2, 2), -2.0))
    assert torch.equal(lb(torch.zeros(3, 2)), torch.tensor([[1.0, -2.0]] * 3))


@pytest.mark.parametrize("channels", (0, -1))
def test_learnable_bias_rejects_empty(channels):
    with pytest.raises(ValueError, match="channels"):
        LearnableBias(channels)
