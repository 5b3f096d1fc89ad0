"""LSQ baseline (Esser et al., ICLR 2020): codes, data init, forward, step and x gradients.

Expectations in float64 from the paper: ``v = x/s``, ``q = clip(round(v), Qn, Qp)``,
``y = q s``; ``dy/ds = -v + round(v)`` for ``Qn < v < Qp``, ``Qn`` below, ``Qp`` above,
times the gradient scale ``1/sqrt(numel * Qp)``; ``dy/dx = 1`` inside, 0 outside.
Initial step from the first batch: ``2 mean|x| / sqrt(Qp)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2uq_hw.errors import N2UQError
from n2uq_hw.quant import LSQActQuant, LSQWeightQuant, quantizer_parameters

BITS = (2, 3, 4, 8)
KINDS = ("act", "weight")


def make(kind: str, bits: int):
    return LSQActQuant(bits) if kind == "act" else LSQWeightQuant(bits)


def qrange(kind: str, bits: int) -> tuple[int, int]:
    if kind == "act":
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def set_step(q, step: float) -> None:
    with torch.no_grad():
        q.step.fill_(step)
        q.initialized.fill_(True)


def spread(kind, bits, step, count, seed):
    """float32 inputs over the whole code range and beyond, away from rounding ties and
    the clip bounds (where float32 and float64 could disagree)."""
    qn, qp = qrange(kind, bits)
    rng = np.random.default_rng(seed)
    v = rng.uniform(qn - 3, qp + 3, count)
    x = (v * step).astype(np.float32)
    v = x.astype(np.float64) / step
    frac = v - np.floor(v)
    keep = (np.abs(frac - 0.5) > 1e-4) & (np.abs(v - qn) > 1e-4) & (np.abs(v - qp) > 1e-4)
    return x[keep]


def ref(x: np.ndarray, g: np.ndarray, step: float, qn: int, qp: int):
    v = x.astype(np.float64) / step
    q = np.clip(np.round(v), qn, qp)
    y = q * step
    inside = (v > qn) & (v < qp)
    ds = np.where(v <= qn, qn, np.where(v >= qp, qp, np.round(v) - v))
    gscale = 1.0 / math.sqrt(x.size * qp)
    return (
        q.astype(np.int64),
        y,
        np.where(inside, g, 0.0),
        float((g * ds).sum() * gscale),
        (float(np.abs(g * ds).sum() * gscale)),
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bits", BITS)
def test_codes_range_and_values(kind, bits):
    q = make(kind, bits)
    qn, qp = qrange(kind, bits)
    step = 0.037 if bits < 8 else 0.0051
    set_step(q, step)
    x = spread(kind, bits, step, 3000, seed=bits)
    codes = q.codes(torch.tensor(x))
    if kind == "weight":
        codes, scale = codes
        assert float(scale) == pytest.approx(step, rel=1e-7)
    else:
        assert float(q.output_step()) == pytest.approx(step, rel=1e-7)
    assert codes.dtype == torch.int64
    assert int(codes.min()) == qn and int(codes.max()) == qp
    assert set(codes.tolist()) == set(range(qn, qp + 1))
    want_codes, want_y, *_ = ref(x, np.zeros_like(x), step, qn, qp)
    np.testing.assert_array_equal(codes.numpy(), want_codes)
    y = q(torch.tensor(x)).detach()
    np.testing.assert_allclose(y.numpy(), want_y, rtol=1e-6, atol=0)
    # forward == codes * step
    np.testing.assert_allclose(y.numpy(), (codes * q.step.detach()).numpy(), rtol=1e-6, atol=0)


def test_expected_ranges():
    assert qrange("act", 2) == (0, 3)
    assert (LSQActQuant(2).qn, LSQActQuant(2).qp) == (0, 3)
    assert (LSQWeightQuant(2).qn, LSQWeightQuant(2).qp) == (-2, 1)
    assert (LSQActQuant(8).qn, LSQActQuant(8).qp) == (0, 255)
    assert (LSQWeightQuant(8).qn, LSQWeightQuant(8).qp) == (-128, 127)
    assert (LSQWeightQuant(4).qn, LSQWeightQuant(4).qp) == (-8, 7)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bits", BITS)
def test_init_from_first_batch(kind, bits):
    q = make(kind, bits)
    _, qp = qrange(kind, bits)
    assert not bool(q.initialized)
    gen = torch.Generator().manual_seed(bits)
    x = torch.randn(4, 8, 5, 5, generator=gen) * 0.7 + 0.2
    q(x)
    want = 2 * x.double().abs().mean().item() / math.sqrt(qp)
    assert q.step.item() == pytest.approx(want, rel=1e-6)
    assert bool(q.initialized)
    # a second batch does not re-initialise
    q(x * 10)
    assert q.step.item() == pytest.approx(want, rel=1e-6)
    # the flag is a buffer: saved and restored with the step
    sd = q.state_dict()
    assert set(sd) == {"step", "initialized"}
    fresh = make(kind, bits)
    fresh.load_state_dict(sd)
    fresh(x * 100)
    assert fresh.step.item() == pytest.approx(want, rel=1e-6)


def test_init_on_zero_batch_keeps_step_positive():
    q = LSQActQuant(4)
    q(torch.zeros(10))
    assert q.step.item() > 0
    assert torch.isfinite(q(torch.ones(10))).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bits", BITS)
def test_step_and_input_gradients(kind, bits):
    q = make(kind, bits)
    qn, qp = qrange(kind, bits)
    step = 0.043 if bits < 8 else 0.0061
    set_step(q, step)
    x = spread(kind, bits, step, 2000, seed=100 + bits)
    g = np.random.default_rng(bits).standard_normal(x.size).astype(np.float32)
    _, _, want_gx, want_gs, gs_abs = ref(x, g, step, qn, qp)
    xt = torch.tensor(x, requires_grad=True)
    q(xt).backward(torch.tensor(g))
    # g (up to the float32 round trip through x/s and *s) inside, exactly 0 outside
    np.testing.assert_allclose(xt.grad.numpy(), want_gx, rtol=1e-6, atol=0)
    assert np.all(xt.grad.numpy()[want_gx == 0] == 0.0)
    assert abs(q.step.grad.item() - want_gs) <= 1e-5 * gs_abs + 1e-9, (q.step.grad, want_gs)


@pytest.mark.parametrize("shape", ((7,), (3, 5), (2, 3, 4, 5)))
def test_gradient_scale_uses_numel(shape):
    """Above the range the step gradient is exactly Qp * g * 1/sqrt(numel * Qp)."""
    q = LSQActQuant(2)
    set_step(q, 0.5)
    x = torch.full(shape, 100.0)
    q(x).sum().backward()
    numel = math.prod(shape)
    assert q.step.grad.item() == pytest.approx(numel * 3 / math.sqrt(numel * 3), rel=1e-6)
    # below the range: Qn = 0 for activations, Qn = -2^(b-1) for weights
    w = LSQWeightQuant(3)
    set_step(w, 0.5)
    w(torch.full(shape, -100.0)).sum().backward()
    assert w.step.grad.item() == pytest.approx(numel * -4 / math.sqrt(numel * 3), rel=1e-6)


def test_step_is_the_only_parameter():
    for q in (LSQActQuant(2), LSQWeightQuant(3)):
        assert [n for n, _ in q.named_parameters()] == ["step"]
        assert quantizer_parameters(q) == [q.step]


@pytest.mark.parametrize("cls", (LSQActQuant, LSQWeightQuant))
@pytest.mark.parametrize("bad", (1, 5, 16, "2", True))
def test_rejects_unsupported_bits(cls, bad):
    with pytest.raises(N2UQError, match="2, 3, 4, 8"):
        cls(bad)
