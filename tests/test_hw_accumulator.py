"""Accumulator: digit-serial sums against a Python model of the same beat sequence."""

import numpy as np
import pytest
from hw_sim import stream

from rtl_gen.hw.accumulator import Accumulator


@pytest.mark.parametrize(("pe", "seed"), [(1, 0), (4, 1), (7, 2)])
def test_accumulator_matches_model(pe, seed):
    rng = np.random.default_rng(seed)
    dut = Accumulator(pe, dot_bits=9, xsum_bits=7, ow_bits=8, acc_bits=40)
    beats, want = [], []
    for _ in range(6):  # six dot products of 1..5 beats each
        n = int(rng.integers(1, 6))
        init = rng.integers(-(2**30), 2**30, pe)
        acc = init.copy()
        for t in range(n):
            dot, xsum = rng.integers(0, 2**9, pe), int(rng.integers(0, 2**7))
            ds, xs, corr = int(rng.integers(0, 12)), int(rng.integers(0, 8)), int(rng.integers(0, 2))
            ow = int(rng.integers(0, 2**8))
            acc = acc + (dot << ds) - (corr * ow * xsum << xs)
            beats.append({"first": int(t == 0), "last": int(t == n - 1), "corr": corr,
                          "dot": dot.tolist(), "xsum": xsum, "init": init.tolist(), "ow": ow,
                          "dot_shift": ds, "x_shift": xs})
        want.append(acc.tolist())
    got = stream(dut, beats, {}, {"acc": (pe,)}, dut.latency)
    assert [g["acc"] for g in got] == want


def test_accumulator_rejects_bad_width():
    with pytest.raises(ValueError, match="Accumulator acc_bits must be an integer in 2..64"):
        Accumulator(2, 4, 4, 4, 65)
