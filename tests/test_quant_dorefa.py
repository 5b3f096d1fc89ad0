"""DoReFa baseline (Zhou et al. 2016): activation and weight codes, forward, STE gradients.

float64 expectations from the paper: activations ``k = round(N clip(x, 0, 1))``,
``y = k / N``, ``dy/dx = 1`` on ``[0, 1]``; weights
``Q = 2 round(N (tanh(w) / (2 max|tanh w|) + 1/2)) / N - 1`` = odd codes ``m / N``, and
``dQ/dw = (1 - tanh^2 w) / max|tanh w|`` (the max is treated as a constant).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2uq_hw.errors import N2UQError
from n2uq_hw.quant import DoReFaActQuant, DoReFaWeightQuant

BITS = (2, 3, 4, 8)


def off_ties(v: np.ndarray) -> np.ndarray:
    frac = v - np.floor(v)
    return np.abs(frac - 0.5) > 1e-4


@pytest.mark.parametrize("bits", BITS)
def test_act_codes_forward_and_gradient(bits):
    n = 2**bits - 1
    rng = np.random.default_rng(bits)
    x = rng.uniform(-0.5, 1.5, 4000).astype(np.float32)
    x = np.concatenate([x, np.float32([0.0, 1.0, -1e9, 1e9])])
    v = np.clip(x.astype(np.float64), 0, 1) * n
    x = x[off_ties(v)]
    want = np.round(np.clip(x.astype(np.float64), 0, 1) * n).astype(np.int64)
    q = DoReFaActQuant(bits)
    codes = q.codes(torch.tensor(x))
    assert codes.dtype == torch.int64
    np.testing.assert_array_equal(codes.numpy(), want)
    assert set(codes.tolist()) == set(range(n + 1))
    xt = torch.tensor(x, requires_grad=True)
    y = q(xt)
    np.testing.assert_allclose(y.detach().numpy(), want / n, rtol=1e-6, atol=0)
    assert float(q.output_step()) == pytest.approx(1.0 / n, rel=1e-7)
    np.testing.assert_allclose(y.detach().numpy(), (codes * q.output_step()).numpy(), rtol=1e-6)
    assert torch.all(y[codes == 0] == 0.0)
    g = rng.standard_normal(x.size).astype(np.float32)
    y.backward(torch.tensor(g))
    inside = (x >= 0) & (x <= 1)  # clamp passes the gradient on its bounds
    np.testing.assert_allclose(xt.grad.numpy(), np.where(inside, g, 0.0), rtol=1e-6, atol=0)
    assert np.all(xt.grad.numpy()[~inside] == 0.0)


def test_act_has_no_parameters():
    assert list(DoReFaActQuant(2).parameters()) == []


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("shape", ((6, 4, 3, 3), (5, 17)))
def test_weight_codes_forward_and_gradient(bits, shape):
    n = 2**bits - 1
    rng = np.random.default_rng(10 + bits)
    w = (rng.standard_normal(shape) * 0.8).astype(np.float32)
    t = np.tanh(w.astype(np.float64))
    tmax = np.abs(t).max()
    v = (t / (2 * tmax) + 0.5) * n
    safe = off_ties(v)
    assert safe.mean() > 0.99
    want_m = (2 * np.round(v) - n).astype(np.int64)

    q = DoReFaWeightQuant(bits)
    m, scale = q.codes(torch.tensor(w))
    assert m.dtype == torch.int64 and m.shape == shape
    assert float(scale) == pytest.approx(1.0 / n, rel=1e-7)
    mm = m.numpy()
    assert np.all(np.abs(mm) % 2 == 1) and mm.min() >= -n and mm.max() <= n
    np.testing.assert_array_equal(mm[safe], want_m[safe])
    # the largest |w| sits on an end level
    i = np.unravel_index(np.abs(w).argmax(), shape)
    assert abs(int(mm[i])) == n

    wt = torch.tensor(w, requires_grad=True)
    y = q(wt)
    np.testing.assert_allclose(y.detach().numpy()[safe], (want_m / n)[safe], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(y.detach().numpy(), (m * scale).numpy(), rtol=1e-6, atol=1e-7)
    g = rng.standard_normal(shape).astype(np.float32)
    y.backward(torch.tensor(g))
    want_g = g * (1 - t**2) / tmax
    np.testing.assert_allclose(wt.grad.numpy(), want_g, rtol=1e-5, atol=1e-7)


def test_weight_zero_tensor_is_finite():
    q = DoReFaWeightQuant(2)
    w = torch.zeros(3, 4, requires_grad=True)
    y = q(w)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(w.grad).all()
    m, _ = q.codes(w)
    assert torch.all(m.abs() % 2 == 1)


@pytest.mark.parametrize("cls", (DoReFaActQuant, DoReFaWeightQuant))
@pytest.mark.parametrize("bad", (1, 5, 16, "2", True))
def test_rejects_unsupported_bits(cls, bad):
    with pytest.raises(N2UQError, match="2, 3, 4, 8"):
        cls(bad)
