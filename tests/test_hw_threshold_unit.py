"""ThresholdUnit against the reference executor's threshold semantics, randomized."""

import numpy as np
import pytest
import torch
from hw_sim import stream

from n2uq_hw.reference import _count_ge, _count_le
from rtl_gen.hw.threshold_unit import ThresholdUnit


def _ref(v, pos, neg, bp):
    v, pos, neg = torch.tensor(v)[:, None], torch.tensor(pos), torch.tensor(neg)
    ge = _count_ge(pos, v)[:, 0]
    le = _count_le(neg, v)[:, 0]
    return torch.where(v[:, 0] >= torch.tensor(bp), ge, le).tolist()


@pytest.mark.parametrize(("lanes", "in_bits", "code_bits", "seed"),
                         [(1, 4, 1, 0), (3, 8, 2, 1), (4, 12, 3, 2), (2, 20, 4, 3)])
def test_threshold_unit_matches_reference(lanes, in_bits, code_bits, seed):
    rng = np.random.default_rng(seed)
    n, lo, hi = 2**code_bits - 1, -(2 ** (in_bits - 1)), 2 ** (in_bits - 1) - 1
    dut = ThresholdUnit(lanes, in_bits, code_bits)
    beats, want = [], []
    for _ in range(40):
        v = rng.integers(lo, hi + 1, lanes)
        pos = np.sort(rng.integers(lo, hi + 2, (lanes, n)), 1)
        neg = -np.sort(-rng.integers(lo - 1, hi + 1, (lanes, n)), 1)
        pos[:, 0] = np.where(rng.random(lanes) < 0.3, pos[:, -1], pos[:, 0])  # ties
        bp = np.where(rng.random(lanes) < 0.3, lo, rng.integers(lo, hi + 2, lanes))
        v = np.where(rng.random(lanes) < 0.3, pos[:, 0], v)  # hit thresholds exactly
        beats.append({"v": v.tolist(), "pos": pos.tolist(), "neg": neg.tolist(),
                      "breakpoint": bp.tolist()})
        want.append(_ref(v, pos, neg, bp))
    got = stream(dut, beats, {}, {"code": (lanes,)}, dut.latency)
    assert [g["code"] for g in got] == want


def test_threshold_unit_one_sided_has_no_neg_port():
    dut = ThresholdUnit(2, 8, 2, two_sided=False)
    assert not hasattr(dut, "neg")
    beats = [{"v": [5, -3], "pos": [[-3, 0, 5], [-2, -2, 7]]}]
    assert stream(dut, beats, {}, {"code": (2,)}, dut.latency) == [{"code": [3, 0]}]


def test_threshold_unit_rejects_bad_parameters():
    with pytest.raises(ValueError, match="ThresholdUnit code_bits must be an integer in 1..8"):
        ThresholdUnit(2, 8, 9)
