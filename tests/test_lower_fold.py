"""Folded integer thresholds and requantisation constants against their float64 chains."""

import numpy as np
import pytest

from n2uq_hw.lower.fold import (
    NEVER_BREAK,
    Chain,
    acc_bound,
    acc_range,
    choose_frac,
    int8_per_channel,
    requant_constants,
    solve_thresholds,
)


def apply_thresholds(th, v):
    """docs/IR.md threshold semantics, written out independently."""
    pos = (v[:, :, None] >= th.pos[:, None, :]).sum(-1)
    if th.neg is None:
        return pos
    neg = (v[:, :, None] <= th.neg[:, None, :]).sum(-1)
    return np.where(v >= th.breakpoint[:, None], pos, neg)


def float_codes(chain, t, v):
    return (chain(v.astype(np.float64))[..., None] > t).sum(-1)


def random_case(rng, c, n, slopes):
    t = np.sort(rng.uniform(-1, 3, n))
    if rng.random() < 0.3:
        t[1:] = np.maximum(t[1:], t[:-1])  # keep sorted; equal adjacent thresholds below
        if n > 1:
            t[1] = t[0]
    g = rng.uniform(0.001, 0.2, c) * (rng.random(c) > 0.1)  # some channels flat (g = 0)
    chain = Chain(g=g, h=rng.normal(0, 2, c), b1=rng.normal(0, 0.5, c),
                  a=slopes(rng, c), b2=rng.normal(0, 0.5, c), beta1=float(rng.uniform(0.3, 2)))
    return chain, t


SLOPES = {
    "positive": lambda rng, c: rng.uniform(0.01, 1.5, c),
    "mixed": lambda rng, c: rng.choice([-0.7, -0.1, 0.0, 0.25, 1.0], c),
    "nonpositive": lambda rng, c: rng.uniform(-1.5, 0.0, c),
}


@pytest.mark.parametrize("kind", sorted(SLOPES))
@pytest.mark.parametrize("seed", range(40))
def test_thresholds_reproduce_every_integer_input(kind, seed):
    rng = np.random.default_rng(seed)
    c, n = 6, int(rng.choice([3, 7, 15]))
    chain, t = random_case(rng, c, n, SLOPES[kind])
    vmin = rng.integers(-400, -50, c)
    vmax = rng.integers(50, 400, c)
    th = solve_thresholds(chain, t, vmin, vmax)
    v = np.stack([np.arange(lo, lo + 800) for lo in vmin])
    v = np.minimum(v, vmax[:, None])
    np.testing.assert_array_equal(apply_thresholds(th, v), float_codes(chain, t, v))
    assert np.all(np.diff(th.pos, axis=1) >= 0)
    assert np.all(th.pos >= vmin[:, None]) and np.all(th.pos <= vmax[:, None] + 1)
    if th.neg is not None:
        assert np.all(np.diff(th.neg, axis=1) <= 0)
        assert kind != "positive"
        mono = th.breakpoint == NEVER_BREAK
        assert np.all(mono == ((chain.a > 0) | (chain.g == 0)))
    else:
        assert kind == "positive"


def test_ties_exactly_at_thresholds_do_not_fire():
    # u = v exactly (g = 1, beta1 = 1): thresholds at integers must need u > t strictly
    chain = Chain(g=np.ones(1), h=np.zeros(1), b1=np.zeros(1), a=np.ones(1), b2=np.zeros(1),
                  beta1=1.0)
    th = solve_thresholds(chain, np.array([0.0, 1.0, 2.5]), np.array([-5]), np.array([5]))
    assert th.pos.tolist() == [[1, 2, 3]]


def test_negative_g_is_rejected():
    chain = Chain(g=-np.ones(1), h=np.zeros(1), b1=np.zeros(1), a=np.ones(1), b2=np.zeros(1),
                  beta1=1.0)
    with pytest.raises(ValueError, match="negate"):
        solve_thresholds(chain, np.array([0.5]), np.array([0]), np.array([3]))


@pytest.mark.parametrize("seed", range(20))
def test_requant_matches_rounded_affine(seed):
    rng = np.random.default_rng(seed)
    g = rng.uniform(-0.01, 0.01, 8)
    h = rng.normal(0, 1, 8)
    frac = int(rng.integers(6, 12))
    m, b, s = requant_constants(g, h, frac)
    assert np.all(np.abs(m) < 2**15)
    v = rng.integers(-20000, 20000, (8, 200))
    got = np.floor_divide(v * m[:, None] + b[:, None], 2**s)
    want = (g[:, None] * v + h[:, None]) * 2.0**frac
    # only the multiplier's rounding (2^-15 relative) and the output rounding remain
    assert np.all(np.abs(got - want) <= 0.5 + np.abs(v) * 2.0 ** (frac - s) + 1e-9)


def test_helpers():
    assert choose_frac(1.0, 16, 2.0) == 14
    assert choose_frac(0.0, 16, 2.0) == 15
    w = np.array([[1.0, -2.0], [0.0, 0.0]])
    q, sc = int8_per_channel(w)
    assert q.tolist() == [[64, -127], [0, 0]] and sc[1] == 1.0
    wi = np.array([[[[1, -3]], [[3, 1]]]])  # [1, 2, 1, 2]
    assert acc_bound(wi, [2, 5]) == (1 + 3) * 2 + (3 + 1) * 5
    mn, mx = acc_range(wi, [0, 0], [3, 3])
    assert mn.tolist() == [-9] and mx.tolist() == [15]
