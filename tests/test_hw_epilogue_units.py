"""RequantUnit, AddUnit, RPReLUUnit against the reference executor's op semantics."""

import numpy as np
import pytest
import torch
from hw_sim import stream

from n2uq_hw.reference import floor_shift, round_shift, sat
from rtl_gen.hw.add_unit import AddUnit
from rtl_gen.hw.requant_unit import RequantUnit
from rtl_gen.hw.rprelu_unit import RPReLUUnit


def _lim(bits):
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _align(v, s):
    return v << s if s >= 0 else round_shift(v, -s)


@pytest.mark.parametrize(("lanes", "in_bits", "mult_bits", "out_bits", "seed"),
                         [(1, 8, 4, 6, 0), (3, 20, 16, 16, 1), (2, 40, 24, 24, 2)])
def test_requant_unit_matches_reference(lanes, in_bits, mult_bits, out_bits, seed):
    rng = np.random.default_rng(seed)
    bias_bits = min(in_bits + mult_bits, 62)  # the IR keeps |v * M| + |B| < 2^62
    dut = RequantUnit(lanes, in_bits, mult_bits, bias_bits, out_bits)
    for shift in (0, 3, in_bits + mult_bits - out_bits):
        beats, want = [], []
        for _ in range(20):
            v = rng.integers(*_lim(in_bits), lanes, endpoint=True)
            m = rng.integers(*_lim(mult_bits), lanes, endpoint=True)
            b = rng.integers(*_lim(bias_bits), lanes, endpoint=True, dtype=np.int64)
            beats.append({"v": v.tolist(), "mult": m.tolist(), "bias": b.tolist()})
            y = sat(floor_shift(torch.tensor(v) * torch.tensor(m) + torch.tensor(b), shift),
                    out_bits)
            want.append(y.tolist())
        lo, hi = _lim(out_bits)
        got = stream(dut, beats, {"shift": shift, "lo": lo, "hi": hi}, {"y": (lanes,)}, dut.latency)
        assert [g["y"] for g in got] == want, shift


@pytest.mark.parametrize(("sa", "sb"), [(0, 0), (2, -3), (-1, 0), (-5, 4), (3, 3)])
def test_add_unit_matches_reference(sa, sb):
    rng = np.random.default_rng(abs(sa * 10 + sb))
    lanes, ab, bb, ob = 3, 16, 12, 16
    dut = AddUnit(lanes, ab, bb, ob)
    beats, want = [], []
    for _ in range(30):
        a = rng.integers(*_lim(ab), lanes, endpoint=True)
        b = rng.integers(*_lim(bb), lanes, endpoint=True)
        beats.append({"a": a.tolist(), "b": b.tolist()})
        want.append(sat(_align(torch.tensor(a), sa) + _align(torch.tensor(b), sb), ob).tolist())
    lo, hi = _lim(ob)
    consts = {"a_left": max(sa, 0), "a_right": max(-sa, 0), "b_left": max(sb, 0),
              "b_right": max(-sb, 0), "lo": lo, "hi": hi}
    got = stream(dut, beats, consts, {"y": (lanes,)}, dut.latency)
    assert [g["y"] for g in got] == want


@pytest.mark.parametrize(("sa", "seed"), [(0, 0), (1, 1), (14, 2), (22, 3)])
def test_rprelu_unit_matches_reference(sa, seed):
    rng = np.random.default_rng(seed)
    lanes, ib, pb, ob = 4, 16, 24, 16
    dut = RPReLUUnit(lanes, ib, pb, ob)
    beats, want = [], []
    for _ in range(30):
        x = rng.integers(*_lim(ib), lanes, endpoint=True)
        b1, sl, b2 = (rng.integers(-(2**15), 2**15, lanes) for _ in range(3))
        sl = np.where(rng.random(lanes) < 0.2, -sl, sl)
        beats.append({"x": x.tolist(), "bias1": b1.tolist(), "slope": sl.tolist(),
                      "bias2": b2.tolist()})
        z = torch.tensor(x) + torch.tensor(b1)
        z = torch.where(z >= 0, z, round_shift(z * torch.tensor(sl), sa))
        want.append(sat(z + torch.tensor(b2), ob).tolist())
    lo, hi = _lim(ob)
    got = stream(dut, beats, {"slope_frac": sa, "lo": lo, "hi": hi}, {"y": (lanes,)}, dut.latency)
    assert [g["y"] for g in got] == want


@pytest.mark.parametrize(("cls", "args", "msg"), [
    (RequantUnit, (0, 8, 8, 8, 8), "RequantUnit lanes must be"),
    (AddUnit, (1, 8, 1, 8), "AddUnit b_bits must be an integer in 2..64"),
    (RPReLUUnit, (1, 8, 8, 65), "RPReLUUnit out_bits must be")])
def test_units_reject_bad_parameters(cls, args, msg):
    with pytest.raises(ValueError, match=msg):
        cls(*args)
