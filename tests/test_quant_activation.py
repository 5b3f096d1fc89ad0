"""N2UQ activation quantizer (LTQ): forward codes and every G-STE gradient.

All expectations come from an independent, per-element float64 reference written
straight from ``shared/N2UQ.md`` (``ref_element``) and, as a second check, from float64
autograd of the naive surrogate ``y = beta2 * (D*k + f - f.detach())`` (``surrogate``).
Nothing here calls the implementation's helpers to compute an expectation.

Random tests drop the few inputs whose float32 and float64 evaluations could disagree
(``u`` within ``AMBIG`` of an edge ``d_i`` or threshold ``t_i``); the exact boundary
behaviour is tested separately with dyadic parameters, for which every ``d_i``, ``t_i``
and ``u = beta1 * x`` is exact in float32.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2uq_hw.quant import N2UQActQuant

BITS = (2, 3, 4)
ALL_BITS = (2, 3, 4, 8)
EPS_LEN = 1e-3
AMBIG = 1e-5
RTOL = 1e-5  # float32 elementwise / summation against float64
EPS32 = 2.0**-23


# ----------------------------------------------------------------------------- reference


def ref_edges(s: float, a: list[float]) -> tuple[list[float], list[float], list[bool]]:
    """``â``, ``d_0..d_N`` (float64) and which lengths are clamped."""
    clamped = [not (ai > EPS_LEN) for ai in a]
    a_hat = [EPS_LEN if c else ai for ai, c in zip(a, clamped)]
    d = [s]
    for ah in a_hat:
        d.append(d[-1] + ah)
    return a_hat, d, clamped


def ref_thresholds(s: float, a: list[float]) -> list[float]:
    a_hat, d, _ = ref_edges(s, a)
    return [d[i] + a_hat[i] / 2 for i in range(len(a))]


def ref_element(
    x: float, s: float, a: list[float], beta1: float, beta2: float, bits: int, edges=None
):
    """One element from N2UQ.md: (k, y, interval, dy/dx, dy/ds, dy/da[], dy/dbeta1, dy/dbeta2).

    ``interval`` is i in 1..N for ``d_{i-1} < u <= d_i`` and 0 outside ``(d_0, d_N]``.
    ``edges`` is ``ref_edges(s, a)``, passed in only to avoid recomputing it per element.
    """
    n = 2**bits - 1
    step = 2.0 / n
    a_hat, d, clamped = ref_edges(s, a) if edges is None else edges
    u = beta1 * x
    k = 0
    for i in range(1, n + 1):
        t_i = d[i - 1] + a_hat[i - 1] / 2
        if u > t_i:
            k += 1
    y = beta2 * step * k
    interval = 0
    for i in range(1, n + 1):
        if d[i - 1] < u <= d[i]:
            interval = i
    dx = ds = db1 = 0.0
    da = [0.0] * n
    if interval:
        ah = a_hat[interval - 1]
        dx = beta2 * beta1 * step / ah
        ds = -beta2 * step / ah
        da[interval - 1] = -beta2 * step * (u - d[interval - 1]) / ah**2
        for j in range(1, interval):
            da[j - 1] = -beta2 * step / ah
        db1 = beta2 * step * x / ah
    for j in range(n):
        if clamped[j]:
            da[j] = 0.0  # no gradient reaches a clamped length
    db2 = step * k
    return k, y, interval, dx, ds, da, db1, db2


class Ref:
    """Reference over a 1-D float32 array: values, gradients and float32 error scales."""

    def __init__(self, x, g, s, a, beta1, beta2, bits):
        n = 2**bits - 1
        self.k = np.zeros(len(x), dtype=np.int64)
        self.y = np.zeros(len(x))
        self.interval = np.zeros(len(x), dtype=np.int64)
        self.gx = np.zeros(len(x))
        self.gs = self.gs_abs = 0.0
        self.ga = np.zeros(n)
        self.ga_abs = np.zeros(n)
        self.ga_err = np.zeros(n)
        self.gb1 = self.gb1_abs = 0.0
        self.gb2 = self.gb2_abs = 0.0
        edges = ref_edges(s, a)
        a_hat, d, _ = edges
        d_abs_cum = np.cumsum(np.abs(d)).tolist()
        for e, (xe, ge) in enumerate(zip(x.tolist(), g.tolist())):
            k, y, itv, dx, ds, da, db1, db2 = ref_element(xe, s, a, beta1, beta2, bits, edges)
            self.k[e], self.y[e], self.interval[e] = k, y, itv
            self.gx[e] = ge * dx
            self.gs += ge * ds
            self.gs_abs += abs(ge * ds)
            for j in range(n):
                self.ga[j] += ge * da[j]
                self.ga_abs[j] += abs(ge * da[j])
            if itv:
                # (u - d_{i-1}) is a float32 difference, d_{i-1} a float32 running sum:
                # its rounding error is at most EPS32 * (|u| + sum_{m<i} |d_m|)
                err = EPS32 * (abs(beta1 * xe) + d_abs_cum[itv - 1])
                self.ga_err[itv - 1] += abs(ge * beta2 * 2.0 / n / a_hat[itv - 1] ** 2) * err
            self.gb1 += ge * db1
            self.gb1_abs += abs(ge * db1)
            self.gb2 += ge * db2
            self.gb2_abs += abs(ge * db2)


def close_sum(got: float, want: float, scale: float, what: str, extra: float = 0.0) -> None:
    """A float32 sum against float64: error bounded by RTOL times the sum of |terms|
    (plus ``extra``, a bound on cancellation error inside the terms)."""
    tol = RTOL * scale + 2 * extra + 1e-7
    assert abs(got - want) <= tol, f"{what}: got {got!r}, want {want!r}"


# ----------------------------------------------------------------------------- fixtures


def f32(v: float) -> float:
    """The nearest float32, as a Python float (the parameters are stored in float32)."""
    return float(np.float32(v))


def make_params(bits: int, kind: str, seed: int):
    """(s, a, beta1, beta2) as float32-representable Python floats."""
    rng = np.random.default_rng(seed)
    n = 2**bits - 1
    step = 2.0 / n
    if kind == "default":
        s, a, b1, b2 = 0.0, [step] * n, 1.0, 1.0
    elif kind == "random":
        s = rng.uniform(-0.6, 0.6)
        a = list(step * rng.uniform(0.3, 2.5, n))
        b1, b2 = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
    elif kind == "clamped":
        s = rng.uniform(-0.6, 0.6)
        a = list(step * rng.uniform(0.3, 2.5, n))
        # a tiny, a zero and a negative length (all become 1e-3); at 2 bits two of three
        idx = rng.permutation(n)[: max(2, min(3, n - 1))]
        for v, i in zip((1e-4, 0.0, -0.05), idx):
            a[i] = v
        b1, b2 = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
    elif kind == "negative_betas":
        s = rng.uniform(-0.6, 0.6)
        a = list(step * rng.uniform(0.3, 2.5, n))
        b1, b2 = -rng.uniform(0.5, 2.0), -rng.uniform(0.5, 2.0)
    else:  # pragma: no cover
        raise ValueError(kind)
    return f32(s), [f32(v) for v in a], f32(b1), f32(b2)


def make_quant(bits, s, a, beta1, beta2) -> N2UQActQuant:
    q = N2UQActQuant(bits)
    with torch.no_grad():
        q.s.fill_(s)
        q.a.copy_(torch.tensor(a, dtype=torch.float32))
        q.beta1.fill_(beta1)
        q.beta2.fill_(beta2)
    return q


def spread_inputs(bits, s, a, beta1, per_interval, seed):
    """float32 inputs whose ``u`` covers every interval, both outside regions, and the
    far outside; inputs within AMBIG of an edge or threshold are dropped."""
    rng = np.random.default_rng(seed)
    a_hat, d, _ = ref_edges(s, a)
    t = ref_thresholds(s, a)
    us = []
    for i in range(len(a)):
        strata = (np.arange(per_interval) + rng.uniform(0.0, 1.0, per_interval)) / per_interval
        us.extend(d[i] + a_hat[i] * strata)  # both halves of every interval
    span = d[-1] - d[0]
    us.extend(d[0] - span * rng.uniform(0.0, 0.5, 12))
    us.extend(d[-1] + span * rng.uniform(0.0, 0.5, 12))
    us.extend([d[0] - 1e6, d[-1] + 1e6, -3e30, 3e30])
    x = (np.array(us) / beta1).astype(np.float32)
    u = beta1 * x.astype(np.float64)
    marks = np.array(d + t)
    dist = np.abs(u[:, None] - marks[None, :]).min(axis=1)
    keep = dist > AMBIG * (1 + np.abs(marks).max())
    assert keep.mean() > 0.9
    return rng.permutation(x[keep])


def run_impl(q: N2UQActQuant, x: np.ndarray, g: np.ndarray, shape=None):
    xt = torch.tensor(x, requires_grad=True)
    xin = xt if shape is None else xt.reshape(shape)
    y = q(xin)
    gt = torch.tensor(g)
    y.backward(gt if shape is None else gt.reshape(shape))
    return y.detach().reshape(-1), xt.grad


PARAM_KINDS = ("default", "random", "clamped", "negative_betas")


# ----------------------------------------------------------------------------- init / api


@pytest.mark.parametrize("bits", ALL_BITS)
def test_init_matches_spec(bits):
    q = N2UQActQuant(bits)
    n = 2**bits - 1
    assert q.levels == n
    assert q.s.shape == () and q.s.item() == 0.0
    assert q.a.shape == (n,)
    assert torch.allclose(q.a, torch.full((n,), 2.0 / n), rtol=0, atol=0)
    assert q.beta1.item() == 1.0 and q.beta2.item() == 1.0
    assert {name for name, _ in q.named_parameters()} == {"s", "a", "beta1", "beta2"}
    # default thresholds are the midpoints (i - 1/2) * D, the output step D
    want = [(i - 0.5) * 2.0 / n for i in range(1, n + 1)]
    np.testing.assert_allclose(q.thresholds().numpy(), want, rtol=1e-6, atol=1e-7)
    assert float(q.output_step()) == pytest.approx(2.0 / n, rel=1e-7)


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("kind", PARAM_KINDS)
def test_forward_codes_and_values(bits, kind):
    seed = 100 * bits + PARAM_KINDS.index(kind)
    s, a, b1, b2 = make_params(bits, kind, seed)
    q = make_quant(bits, s, a, b1, b2)
    x = spread_inputs(bits, s, a, b1, per_interval=2 if bits == 8 else 12, seed=seed)
    ref = Ref(x, np.zeros_like(x), s, a, b1, b2, bits)
    n = 2**bits - 1

    codes = q.codes(torch.tensor(x))
    assert codes.dtype == torch.int64
    np.testing.assert_array_equal(codes.numpy(), ref.k)
    assert ref.k.min() == 0 and ref.k.max() == n
    assert set(ref.k.tolist()) == set(range(n + 1))  # every code exercised

    y = q(torch.tensor(x)).detach()
    assert y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), ref.y, rtol=1e-6, atol=0)
    assert torch.all(y[codes == 0] == 0.0)  # code 0 is exactly zero

    # codes() == forward / output_step, rounded
    step = q.output_step()
    np.testing.assert_allclose(float(step), b2 * 2.0 / n, rtol=1e-6)
    assert torch.equal(torch.round(y / step).to(torch.int64), codes)


@pytest.mark.parametrize("bits", ALL_BITS)
def test_forward_shape_and_dtype(bits):
    q = N2UQActQuant(bits)
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(bits))
    y = q(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    x64 = x.double()
    y64 = q(x64)
    assert y64.dtype == torch.float64
    assert torch.equal(y64.float(), y)
    assert q.codes(x).shape == x.shape


def dyadic_params(bits: int, seed: int):
    """Parameters exact in float32 together with every edge/threshold and u = beta1*x."""
    rng = np.random.default_rng(seed)
    n = 2**bits - 1
    # d_i = (4m - 31)/128 and t_i = (4m - 31 + 2k)/128 have odd numerators: never 0, so
    # nextafter() of x = d_i/beta1 or t_i/beta1 stays normal after scaling by beta1
    s = -31 / 128
    a = [float(v) / 32 for v in rng.integers(1, 20, n)]
    return s, a, 0.5, 1.5


@pytest.mark.parametrize("bits", BITS)
def test_forward_exactly_on_and_next_to_thresholds(bits):
    s, a, b1, b2 = dyadic_params(bits, seed=bits)
    q = make_quant(bits, s, a, b1, b2)
    t = ref_thresholds(s, a)
    n = 2**bits - 1
    for i, t_i in enumerate(t, start=1):
        x_on = np.float32(t_i / b1)
        assert float(x_on) * b1 == t_i  # the test point really is on the threshold
        x_up = np.nextafter(x_on, np.float32(np.inf))
        x_dn = np.nextafter(x_on, np.float32(-np.inf))
        c = q.codes(torch.tensor([x_dn, x_on, x_up])).tolist()
        assert c == [i - 1, i - 1, i], f"threshold {i}"  # strict ">": on it does not count
        y = q(torch.tensor([x_dn, x_on, x_up])).detach().tolist()
        assert y == pytest.approx([b2 * 2 / n * (i - 1)] * 2 + [b2 * 2 / n * i], rel=1e-6)
    far = torch.tensor([-1e30, -1e6, 1e6, 1e30, -math.inf, math.inf, -3.4e38, 3.4e38])
    assert q.codes(far).tolist() == [0, 0, n, n, 0, n, 0, n]
    yf = q(far).detach()
    assert torch.all(yf[[0, 1, 4, 6]] == 0.0)
    assert torch.allclose(yf[[2, 3, 5, 7]], torch.tensor(b2 * 2.0))


@pytest.mark.parametrize("bits", BITS)
def test_clamped_lengths_move_thresholds(bits):
    """A length below 1e-3 acts as 1e-3: thresholds, codes and values follow."""
    n = 2**bits - 1
    s, a, b1, b2 = 0.1, [2.0 / n] * n, 1.0, 1.0
    a[0] = -0.3
    a[n // 2] = 1e-5
    q = make_quant(bits, s, a, b1, b2)
    t = ref_thresholds(s, a)
    np.testing.assert_allclose(q.thresholds().numpy(), t, rtol=1e-6, atol=1e-7)
    # the first threshold is s + 0.0005, not s - 0.15
    assert float(q.thresholds()[0]) == pytest.approx(0.1 + 5e-4, rel=1e-5)
    x = torch.tensor([0.1 + 2e-4, 0.1 + 8e-4])
    assert q.codes(x).tolist() == [0, 1]


# ----------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("kind", ("random", "clamped"))
def test_thresholds_and_input_thresholds(bits, kind):
    s, a, b1, b2 = make_params(bits, kind, seed=7 * bits)
    q = make_quant(bits, s, a, b1, b2)
    t = np.array(ref_thresholds(s, a))
    got = q.thresholds()
    assert got.shape == (2**bits - 1,)
    assert torch.all(got[1:] > got[:-1])
    np.testing.assert_allclose(got.numpy(), t, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(q.input_thresholds().numpy(), t / b1, rtol=2e-6, atol=2e-6)
    # thresholds() is a copy: editing it leaves the quantizer alone
    got.add_(100.0)
    np.testing.assert_allclose(q.thresholds().numpy(), t, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("beta1", (0.0, -0.5))
def test_input_thresholds_needs_positive_beta1(beta1):
    q = N2UQActQuant(2)
    with torch.no_grad():
        q.beta1.fill_(beta1)
    with pytest.raises(ValueError, match="beta1"):
        q.input_thresholds()
    q.thresholds()  # still fine


def test_codes_do_not_track_gradients():
    q = N2UQActQuant(3)
    x = torch.randn(10, requires_grad=True)
    c = q.codes(x)
    assert not c.requires_grad
    assert not q.thresholds().requires_grad
    assert not q.output_step().requires_grad


# ----------------------------------------------------------------------------- gradients


def impl_grads(q: N2UQActQuant, x: np.ndarray, g: np.ndarray, shape=None):
    q.zero_grad(set_to_none=True)
    y, gx = run_impl(q, x, g, shape)
    return y, gx, q.s.grad, q.a.grad, q.beta1.grad, q.beta2.grad


def check_against_ref(q, x, g, s, a, b1, b2, bits, shape=None):
    ref = Ref(x, g, s, a, b1, b2, bits)
    _, gx, gs, ga, gb1, gb2 = impl_grads(q, x, g, shape)
    n = 2**bits - 1
    assert gx.dtype == torch.float32
    np.testing.assert_allclose(gx.numpy(), ref.gx, rtol=RTOL, atol=1e-7)
    assert gs.shape == () and gb1.shape == () and gb2.shape == ()
    assert ga.shape == (n,)
    close_sum(float(gs), ref.gs, ref.gs_abs, "d/ds")
    for j in range(n):
        close_sum(float(ga[j]), ref.ga[j], ref.ga_abs[j], f"d/da_{j + 1}", ref.ga_err[j])
    close_sum(float(gb1), ref.gb1, ref.gb1_abs, "d/dbeta1")
    close_sum(float(gb2), ref.gb2, ref.gb2_abs, "d/dbeta2")
    return ref


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("kind", PARAM_KINDS)
def test_gradients_match_closed_forms(bits, kind):
    seed = 1000 + 10 * bits + PARAM_KINDS.index(kind)
    s, a, b1, b2 = make_params(bits, kind, seed)
    q = make_quant(bits, s, a, b1, b2)
    x = spread_inputs(bits, s, a, b1, per_interval=2 if bits == 8 else 10, seed=seed)
    g = np.random.default_rng(seed + 1).standard_normal(len(x)).astype(np.float32)
    ref = check_against_ref(q, x, g, s, a, b1, b2, bits)
    n = 2**bits - 1
    # coverage: every interval and both outside regions were exercised
    assert set(ref.interval.tolist()) == set(range(n + 1))
    u = b1 * x.astype(np.float64)
    d0 = s
    assert (u <= d0).any() and (ref.interval == 0).sum() > (u <= d0).sum()  # also u > d_N
    if kind == "clamped":
        _, _, clamped = ref_edges(s, a)
        assert any(clamped)
        assert all(float(q.a.grad[j]) == 0.0 for j in range(n) if clamped[j])
        # unclamped lengths do receive gradient
        assert any(float(q.a.grad[j]) != 0.0 for j in range(n) if not clamped[j])


@pytest.mark.parametrize("bits", BITS)
def test_gradients_nd_input(bits):
    s, a, b1, b2 = make_params(bits, "random", seed=55 + bits)
    q = make_quant(bits, s, a, b1, b2)
    x = spread_inputs(bits, s, a, b1, per_interval=8, seed=55 + bits)
    x = x[: (len(x) // 6) * 6]
    g = np.random.default_rng(3).standard_normal(len(x)).astype(np.float32)
    check_against_ref(q, x, g, s, a, b1, b2, bits, shape=(2, 3, -1))


@pytest.mark.parametrize("bits", BITS)
def test_gradients_on_interval_edges(bits):
    """Intervals are (d_{i-1}, d_i]: u == d_0 is outside, u == d_i (i >= 1) is in i."""
    s, a, b1, b2 = dyadic_params(bits, seed=20 + bits)
    q = make_quant(bits, s, a, b1, b2)
    a_hat, d, _ = ref_edges(s, a)
    n = 2**bits - 1
    step = 2.0 / n
    on = np.array([np.float32(di / b1) for di in d], dtype=np.float32)
    assert all(float(v) * b1 == di for v, di in zip(on, d))
    up = np.nextafter(on, np.float32(np.inf))
    dn = np.nextafter(on, np.float32(-np.inf))
    for pts, intervals in (
        (on, [0] + list(range(1, n + 1))),
        (up, list(range(1, n + 1)) + [0]),
        (dn, [0] + list(range(1, n + 1))),
    ):
        # one element at a time: each gradient is exactly that element's closed form
        for xe, itv in zip(pts, intervals):
            xa = np.array([xe], dtype=np.float32)
            ga = np.array([1.0], dtype=np.float32)
            ref = check_against_ref(q, xa, ga, s, a, b1, b2, bits)
            assert ref.interval[0] == itv
            want_dx = 0.0 if itv == 0 else b2 * b1 * step / a_hat[itv - 1]
            assert float(q.beta1.grad) == pytest.approx(
                0.0 if itv == 0 else b2 * step * float(xe) / a_hat[itv - 1], rel=1e-6
            )
            _, gx, *_ = impl_grads(q, xa, ga)
            assert float(gx[0]) == pytest.approx(want_dx, rel=1e-6)
    # all at once, with random upstream gradients
    x = np.concatenate([on, up, dn])
    g = np.random.default_rng(bits).standard_normal(len(x)).astype(np.float32)
    check_against_ref(q, x, g, s, a, b1, b2, bits)
    # at u == d_i the own-length gradient is -beta2 * D * â_i / â_i^2
    for i in range(1, n + 1):
        impl_grads(q, on[i : i + 1], np.ones(1, dtype=np.float32))
        assert float(q.a.grad[i - 1]) == pytest.approx(-b2 * step / a_hat[i - 1], rel=1e-6)


@pytest.mark.parametrize("bits", BITS)
def test_clamped_length_gets_no_gradient_but_is_used(bits):
    """Inputs inside a clamped interval: that a_i gets nothing, the others see 1/1e-3."""
    n = 2**bits - 1
    s, a, b1, b2 = 0.0, [2.0 / n] * n, 1.0, 1.25
    a[-1] = 5e-4
    a[0] = float(np.float32(1e-3))  # exactly the clamp value: clamped (not > 1e-3)
    q = make_quant(bits, s, a, b1, b2)
    a_hat = [1e-3] + [2.0 / n] * (n - 2) + [1e-3]
    d_last = sum(a_hat[:-1])
    x = np.array([d_last + 7e-4], dtype=np.float32)  # inside the last (clamped) interval
    impl_grads(q, x, np.ones(1, dtype=np.float32))
    step = 2.0 / n
    assert float(q.a.grad[-1]) == 0.0
    assert float(q.a.grad[0]) == 0.0
    for j in range(1, n - 1):
        assert float(q.a.grad[j]) == pytest.approx(-b2 * step / 1e-3, rel=1e-4)
    assert float(q.s.grad) == pytest.approx(-b2 * step / 1e-3, rel=1e-4)
    assert float(q.beta1.grad) == pytest.approx(b2 * step * float(x[0]) / 1e-3, rel=1e-4)


@pytest.mark.parametrize("bits", ALL_BITS)
def test_equal_lengths_give_clipped_ste(bits):
    """All â equal: dy/dx = beta2*beta1*D/L on (d_0, d_N], 0 elsewhere (clipped STE)."""
    n = 2**bits - 1
    gen = torch.Generator().manual_seed(bits)
    # default init: y ~ clip(x, 0, 2), gradient exactly 1 on (0, 2]
    q = N2UQActQuant(bits)
    x = torch.cat([torch.rand(400, generator=gen) * 4 - 1, torch.tensor([0.0, -1e9, 1e9])])
    assert ((x - 2.0).abs() > 1e-5).all()  # d_N is 2 only up to float32 rounding
    x.requires_grad_(True)
    g = torch.randn(x.shape, generator=gen)
    q(x).backward(g)
    inside = (x > 0) & (x <= 2)
    torch.testing.assert_close(x.grad, torch.where(inside, g, torch.zeros_like(g)))
    # scaled: equal lengths L, shifted start, non-unit betas
    L, s, b1, b2 = 0.3, -0.4, 1.7, 0.6
    q = make_quant(bits, s, [L] * n, b1, b2)
    xd = x.detach().clone().requires_grad_(True)
    q(xd).backward(g)
    u = b1 * xd.detach().double()
    lo, hi = s, s + n * L
    assert ((u - lo).abs() > 1e-4).all() and ((u - hi).abs() > 1e-4).all()
    inside = (u > lo) & (u <= hi)
    assert inside.any() and (~inside).any()
    want = torch.where(inside, g.double() * b2 * b1 * (2.0 / n) / L, torch.zeros_like(u))
    torch.testing.assert_close(xd.grad.double(), want, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- surrogate


def surrogate(x, g, s, a, beta1, beta2, bits):
    """float64 autograd of y = beta2 * (D*k + f - f.detach()), written naively."""
    n = 2**bits - 1
    step = 2.0 / n
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    st = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor(beta1, dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor(beta2, dtype=torch.float64, requires_grad=True)
    a_hat = torch.where(at > EPS_LEN, at, torch.full_like(at, EPS_LEN))
    u = b1 * xt
    k = torch.zeros_like(u)
    f = torch.zeros_like(u)
    lo = st
    for i in range(n):
        hi = lo + a_hat[i]
        k = k + (u > lo + a_hat[i] / 2).double()
        piece = step * ((u - lo) / a_hat[i] + i)
        f = torch.where((u > lo) & (u <= hi), piece, f)
        lo = hi
    f = torch.where(u > lo, torch.full_like(u, 2.0), f)
    y = b2 * (step * k + f - f.detach())
    (y * torch.tensor(g, dtype=torch.float64)).sum().backward()
    return y.detach(), xt.grad, st.grad, at.grad, b1.grad, b2.grad


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("kind", PARAM_KINDS)
def test_gradients_match_surrogate_autograd(bits, kind):
    seed = 5000 + 10 * bits + PARAM_KINDS.index(kind)
    s, a, b1, b2 = make_params(bits, kind, seed)
    q = make_quant(bits, s, a, b1, b2)
    x = spread_inputs(bits, s, a, b1, per_interval=10, seed=seed)
    g = np.random.default_rng(seed + 2).standard_normal(len(x)).astype(np.float32)
    y_ref, gx, gs, ga, gb1, gb2 = surrogate(x, g, s, a, b1, b2, bits)
    y, igx, igs, iga, igb1, igb2 = impl_grads(q, x, g)
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-6, atol=0)
    np.testing.assert_allclose(igx.numpy(), gx.numpy(), rtol=RTOL, atol=1e-7)
    # scale for sums: the L1 norm of the per-element terms bounds the float32 error
    ref = Ref(x, g, s, a, b1, b2, bits)
    close_sum(float(igs), float(gs), ref.gs_abs, "d/ds")
    for j in range(len(a)):
        close_sum(float(iga[j]), float(ga[j]), ref.ga_abs[j], f"d/da_{j + 1}", ref.ga_err[j])
    close_sum(float(igb1), float(gb1), ref.gb1_abs, "d/dbeta1")
    close_sum(float(igb2), float(gb2), ref.gb2_abs, "d/dbeta2")


def test_far_outside_inputs_give_finite_zero_gradients():
    q = make_quant(3, *make_params(3, "random", seed=9))
    x = torch.tensor([-1e30, -1e6, 1e6, 1e30], requires_grad=True)
    q(x).backward(torch.ones(4))
    assert torch.equal(x.grad, torch.zeros(4))
    assert float(q.s.grad) == 0.0 and float(q.beta1.grad) == 0.0
    assert torch.equal(q.a.grad, torch.zeros_like(q.a))
    # beta2 still learns from the codes: D * (0 + 0 + N + N)
    assert float(q.beta2.grad) == pytest.approx(2.0 / 7 * 14, rel=1e-6)


def test_float64_input_gradients():
    s, a, b1, b2 = make_params(2, "random", seed=4)
    q = make_quant(2, s, a, b1, b2)
    x = spread_inputs(2, s, a, b1, per_interval=10, seed=4)
    g = np.random.default_rng(0).standard_normal(len(x))
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    q(xt).backward(torch.tensor(g))
    assert xt.grad.dtype == torch.float64
    ref = Ref(x, g, s, a, b1, b2, 2)
    np.testing.assert_allclose(xt.grad.numpy(), ref.gx, rtol=RTOL, atol=1e-7)


@pytest.mark.parametrize("bad", (1, 5, 16, "2", True))
def test_rejects_unsupported_bits(bad):
    from n2uq_hw.errors import N2UQError

    with pytest.raises(N2UQError, match="2, 3, 4, 8"):
        N2UQActQuant(bad)


@pytest.mark.filterwarnings("ignore:torch.searchsorted.*non-contiguous")
def test_non_contiguous_input():
    s, a, b1, b2 = make_params(3, "random", seed=77)
    q = make_quant(3, s, a, b1, b2)
    base = torch.randn(6, 9, generator=torch.Generator().manual_seed(1)) * 2
    g = torch.randn(9, 6, generator=torch.Generator().manual_seed(2))
    xt = base.clone().requires_grad_(True)
    y_view = q(xt.t())  # a transposed, non-contiguous view
    y_view.backward(g)
    xc = base.t().contiguous().requires_grad_(True)
    y = q(xc)
    y.backward(g)
    assert torch.equal(y_view.detach(), y.detach())
    assert torch.equal(xt.grad.t(), xc.grad)
    assert torch.equal(q.codes(base.t()), q.codes(base.t().contiguous()))
