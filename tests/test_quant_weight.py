"""N2UQ weight quantizer: per-channel normalisation, odd codes, STE backward.

Expectations are computed in float64 straight from ``shared/N2UQ.md``:
``alpha_c = ((2^b - 1) / 2^(b-1)) * mean|W_c|``, ``W' = clip(W/alpha_c, -1, 1)``,
``Q = alpha_c * (round((W' + 1) N/2) * 2/N - 1)``, ``dL/dW = dL/dQ / alpha_c`` where
``|W/alpha_c| <= 1`` (the reference code's ``torch.clamp`` passes the gradient on the
bounds) and 0 outside. Rounding is half-to-even (``torch.round``/``np.round``); elements
whose scaled value is within 1e-4 of a rounding tie are left out of exact comparisons.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2uq_hw.errors import N2UQError
from n2uq_hw.quant import N2UQWeightQuant

BITS = (2, 3, 4, 8)
SHAPES = ((8, 4, 3, 3), (6, 20), (3, 5, 1, 1))
EPS32 = 2.0**-23


def ref_quant(w: np.ndarray, bits: int):
    """float64 reference: alpha (per channel), level index r, codes m, Q, inside mask,
    and a mask of elements far from rounding ties."""
    n = 2**bits - 1
    w64 = w.astype(np.float64).reshape(w.shape[0], -1)
    mean_abs = np.abs(w64).mean(axis=1, keepdims=True)
    alpha = (n / 2 ** (bits - 1)) * mean_abs
    ratio = w64 / alpha
    v = (np.clip(ratio, -1.0, 1.0) + 1.0) * n / 2
    r = np.round(v)
    m = (2 * r - n).astype(np.int64)
    q = alpha * (r * 2.0 / n - 1.0)
    frac = v - np.floor(v)
    safe = np.abs(frac - 0.5) > 1e-4
    inside = np.abs(ratio) <= 1.0
    shape = w.shape
    return {
        "alpha": alpha,
        "mean_abs": mean_abs,
        "m": m.reshape(shape),
        "q": q.reshape(shape),
        "safe": safe.reshape(shape),
        "inside": inside.reshape(shape),
        "ratio": ratio.reshape(shape),
    }


def per_channel(v: np.ndarray, shape) -> np.ndarray:
    return np.broadcast_to(v.reshape((shape[0],) + (1,) * (len(shape) - 1)), shape)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_codes_match_formula(bits, shape):
    gen = np.random.default_rng(bits * 31 + len(shape))
    # channels of very different magnitude: the normalisation is per output channel
    scales = np.exp(gen.uniform(-4, 2, shape[0])).reshape((shape[0],) + (1,) * (len(shape) - 1))
    w = (gen.standard_normal(shape) * scales).astype(np.float32)
    ref = ref_quant(w, bits)
    n = 2**bits - 1
    assert ref["safe"].mean() > 0.99

    quant = N2UQWeightQuant(bits)
    wt = torch.tensor(w)
    q = quant(wt)
    m, scale = quant.codes(wt)
    assert q.shape == wt.shape and q.dtype == torch.float32
    assert m.dtype == torch.int64 and m.shape == wt.shape
    # scale: one per output channel, equal to mean|W_c| / 2^(b-1) == alpha_c / N
    assert scale.shape == (shape[0],) + (1,) * (len(shape) - 1)
    np.testing.assert_allclose(
        scale.numpy(), ref["mean_abs"].reshape(scale.shape) / 2 ** (bits - 1), rtol=1e-6
    )
    np.testing.assert_allclose(scale.numpy() * n, ref["alpha"].reshape(scale.shape), rtol=1e-6)

    mm = m.numpy()
    assert np.all(np.abs(mm) % 2 == 1)  # odd: no zero level
    assert mm.min() >= -n and mm.max() <= n
    safe = ref["safe"]
    np.testing.assert_array_equal(mm[safe], ref["m"][safe])

    # forward == the formula, == m * scale, == m * mean|W_c| / 2^(b-1)
    alpha = per_channel(ref["alpha"], shape)
    # float32 error: alpha * (r * 2/N - 1) cancels near the +-1 levels, so allow a few
    # float32 ulps of alpha_c (not of Q) on top of a tight relative tolerance
    tol = 1e-6 * np.abs(ref["q"]) + 4 * EPS32 * alpha
    qn = q.numpy()
    assert np.all(np.abs(qn - ref["q"])[safe] <= tol[safe])
    assert np.all(np.abs(qn - (m * scale).numpy()) <= tol)
    level = per_channel(ref["mean_abs"], shape) / 2 ** (bits - 1)
    assert np.all(np.abs(qn - ref["m"] * level)[safe] <= tol[safe])


@pytest.mark.parametrize("bits", BITS)
def test_levels_are_fixed_points(bits):
    """A channel holding each odd level c*m once has mean|W| = c*2^(b-1), so scale = c and
    every weight, the clip bounds +-1 included, quantizes to itself."""
    n = 2**bits - 1
    levels = np.arange(-n, n + 1, 2)
    c = np.array([0.25, 1.0, 3.0, 1e-3])[:, None]
    w = torch.tensor((c * levels).astype(np.float32), requires_grad=True)
    quant = N2UQWeightQuant(bits)
    m, scale = quant.codes(w)
    assert torch.equal(m, torch.tensor(np.broadcast_to(levels, w.shape).copy()))
    np.testing.assert_allclose(scale.numpy().ravel(), c.ravel(), rtol=1e-6)
    q = quant(w)
    tol = 1e-6 * w.detach().abs() + 4 * EPS32 * torch.tensor(n * c).float()
    assert torch.all((q - w).abs() <= tol)
    # gradient passes on the clip bounds |W/alpha| == 1 (alpha = N*c)
    q.backward(torch.ones_like(q))
    torch.testing.assert_close(
        w.grad, torch.tensor(1.0 / (n * c)).float().expand_as(w), rtol=1e-6, atol=0
    )


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("shape", SHAPES)
def test_ste_gradient(bits, shape):
    gen = np.random.default_rng(bits + 100 * len(shape))
    w = (gen.standard_normal(shape) * gen.uniform(0.1, 3.0)).astype(np.float32)
    w2 = w.reshape(shape[0], -1)
    w2[:, 0] = 8 * np.abs(w2).max(axis=1)  # an outlier per channel: outside the clip range
    g = gen.standard_normal(shape).astype(np.float32)
    ref = ref_quant(w, bits)
    wt = torch.tensor(w, requires_grad=True)
    N2UQWeightQuant(bits)(wt).backward(torch.tensor(g))
    alpha = per_channel(ref["alpha"], shape)
    want = np.where(ref["inside"], g / alpha, 0.0)
    clear = np.abs(np.abs(ref["ratio"]) - 1.0) > 1e-5  # away from the clip bound
    assert ref["inside"][clear].any() and (~ref["inside"][clear]).any()
    np.testing.assert_allclose(wt.grad.numpy()[clear], want[clear], rtol=1e-5, atol=0)
    # outside the clip range the gradient is exactly zero
    assert np.all(wt.grad.numpy()[~ref["inside"] & clear] == 0.0)


def test_alpha_is_detached():
    """No gradient through mean|W|: the gradient of sum(Q * g) is g/alpha (0 outside)."""
    w = torch.tensor([[0.3, -0.1, 0.2, -0.4]], requires_grad=True)
    g = torch.tensor([[1.0, 2.0, -1.0, 0.5]])
    N2UQWeightQuant(2)(w).backward(g)
    alpha = 1.5 * 0.25  # |-0.4| > alpha: clipped, no gradient
    torch.testing.assert_close(w.grad, g / alpha * torch.tensor([[1.0, 1.0, 1.0, 0.0]]))


def test_quantizer_has_no_parameters():
    assert list(N2UQWeightQuant(2).parameters()) == []


@pytest.mark.parametrize("bits", BITS)
def test_zero_channel_is_finite(bits):
    w = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(bits))
    with torch.no_grad():
        w[1] = 0.0
    w.requires_grad_(True)
    quant = N2UQWeightQuant(bits)
    q = quant(w)
    q.backward(torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))
    m, scale = quant.codes(w)
    for t in (q, w.grad, scale):
        assert torch.isfinite(t).all()
    assert torch.all(q[1].abs() <= 1e-10)
    assert torch.all(m[1].abs() % 2 == 1)
    # the zero channel does not disturb the others
    q_other = quant(w.detach()[[0, 2]])
    assert torch.equal(q_other, q.detach()[[0, 2]])


@pytest.mark.parametrize("bits", BITS)
def test_channel_scaling_equivariance(bits):
    """Scaling a channel by a power of two scales its Q and leaves codes unchanged."""
    w = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(11 + bits))
    f = torch.tensor([1.0, 0.125, 4.0, 1024.0]).view(4, 1, 1, 1)
    quant = N2UQWeightQuant(bits)
    m0, s0 = quant.codes(w)
    m1, s1 = quant.codes(w * f)
    assert torch.equal(m0, m1)
    torch.testing.assert_close(s1, s0 * f, rtol=1e-6, atol=0)
    torch.testing.assert_close(quant(w * f), quant(w) * f, rtol=1e-6, atol=0)


@pytest.mark.parametrize("bits", BITS)
def test_uniform_grid_gives_exactly_uniform_levels(bits):
    """W on the midpoints of n equal cells of (-1, 1): mean|W| = 0.5 exactly, so
    alpha = N / 2^b and v = (W/alpha + 1) N/2 = W 2^(b-1) + 2^(b-1) - 1/2 is uniform on
    (-1/2, 2^b - 1/2); each of the 2^b levels takes exactly n / 2^b of the weights (with
    n a multiple of 2^b no midpoint sits on a rounding boundary)."""
    levels = 2**bits
    n_el = 64 * levels
    grid = (-1.0 + (2 * np.arange(n_el) + 1) / n_el).astype(np.float32)
    w = torch.tensor(np.stack([grid, np.random.default_rng(bits).permutation(grid)]))
    m, _ = N2UQWeightQuant(bits).codes(w)
    for row in m:
        counts = torch.bincount((row + levels - 1) // 2, minlength=levels)
        assert counts.tolist() == [n_el // levels] * levels


def expected_shares(alpha: float, bits: int) -> np.ndarray:
    """Share of W ~ U(-1, 1) landing on each level r = 0..N for a given alpha.

    Level r takes v = (clip(W/alpha) + 1) N/2 in [r - 1/2, r + 1/2), i.e.
    W/alpha in [(2r - 1)/N - 1, (2r + 1)/N - 1), the end levels open-ended (the clip);
    the share is that W interval intersected with (-1, 1), over 2."""
    n = 2**bits - 1
    r = np.arange(n + 1)
    lo = alpha * ((2 * r - 1) / n - 1)
    hi = alpha * ((2 * r + 1) / n - 1)
    lo[0], hi[-1] = -np.inf, np.inf
    return (np.clip(hi, -1, 1) - np.clip(lo, -1, 1)) / 2


@pytest.mark.parametrize("bits", BITS)
def test_expected_shares_are_uniform_at_ideal_alpha(bits):
    """mean|W| of U(-1, 1) is 1/2, so alpha = (N / 2^(b-1)) / 2 = N / 2^b: every level
    then covers a W interval of length 2 alpha / N = 2 / 2^b, the end levels (clipped at
    +-1) too, so each share is exactly 1/2^b."""
    n = 2**bits - 1
    shares = expected_shares(n / 2**bits, bits)
    np.testing.assert_allclose(shares, 1.0 / 2**bits, rtol=1e-12)


@pytest.mark.parametrize("bits", BITS)
def test_random_uniform_weights_histogram(bits):
    """W ~ U(-1, 1), 4 channels of 2^16: the code histogram matches the analytic shares
    for each channel's actual alpha to within 5 binomial sd (sd = sqrt(p(1-p)/n));
    those shares are near 1/2^b because mean|W| is near 1/2 (relative sd of the
    estimate sqrt(1/12)/0.5/sqrt(n_c) ~ 0.0023, which moves at most ~half of that
    into an end level)."""
    gen = torch.Generator().manual_seed(1234 + bits)
    channels, per = 4, 2**16
    w = torch.rand(channels, per, generator=gen) * 2 - 1
    m, _ = N2UQWeightQuant(bits).codes(w)
    levels = 2**bits
    n = levels - 1
    idx = (m + n) // 2  # r = (m + N) / 2 in 0..N
    alpha = ref_quant(w.numpy(), bits)["alpha"].ravel()
    np.testing.assert_allclose(alpha, n / levels, rtol=4 * 0.58 / np.sqrt(per))
    for c in range(channels):
        counts = torch.bincount(idx[c], minlength=levels).double().numpy()
        want = expected_shares(float(alpha[c]), bits)
        sd = np.sqrt(want * (1 - want) / per)
        assert np.all(np.abs(counts / per - want) <= 5 * sd), (c, counts / per, want)
    share = torch.bincount(idx.reshape(-1), minlength=levels).double().numpy() / m.numel()
    p = 1.0 / levels
    assert np.all(np.abs(share - p) <= 5 * np.sqrt(p * (1 - p) / m.numel()) + 0.002)
    if bits <= 4:
        assert np.all(np.abs(share / p - 1) < 0.05)


@pytest.mark.parametrize("bad", (1, 5, 16, "2", True))
def test_rejects_unsupported_bits(bad):
    with pytest.raises(N2UQError, match="2, 3, 4, 8"):
        N2UQWeightQuant(bad)
