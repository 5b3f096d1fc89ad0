"""OperandStage against the compiler's operand plans: digits of xu for codes, shifted pixels
with per-channel pad values, and sign-flipped fixed point."""

import numpy as np
import pytest
from hw_sim import stream

from rtl_gen.hw.operand_stage import OperandStage


@pytest.mark.parametrize(("bits", "shift", "flip", "a_bits"), [
    (2, 0, 0, 2), (3, 0, 0, 2), (8, 0, 0, 2), (8, 8, 0, 2), (16, 0, 1, 2), (13, 0, 1, 3),
    (8, 4, 0, 1), (8, 1, 0, 2), (8, 7, 0, 2), (6, 3, 1, 2), (8, 6, 0, 3), (4, 13, 0, 2)])
def test_operand_stage_digits(bits, shift, flip, a_bits):
    rng = np.random.default_rng(bits * 10 + shift)
    simd = 6
    xu_bits = bits + shift
    dut = OperandStage(simd, bits, a_bits, xu_bits)
    beats, want = [], []
    for _ in range(8):
        raw = rng.integers(0, 2**bits, simd)
        pad = rng.integers(0, 2, simd)
        padv = rng.integers(0, 2**xu_bits, simd)
        signed = np.where(raw >= 2 ** (bits - 1), raw - 2**bits, raw) if flip else raw
        xu = np.where(pad == 1, padv, ((signed + (2 ** (bits - 1) if flip else 0)) << shift))
        for d in range(dut.digits):
            beats.append({"lanes": raw.tolist(), "pad": int(sum(int(p) << j for j, p in enumerate(pad))),
                          "pad_value": padv.tolist(), "digit": d})
            want.append(((xu >> (a_bits * d)) & (2**a_bits - 1)).tolist())
    got = stream(dut, beats, {"flip_mask": (1 << (bits - 1)) if flip else 0, "input_shift": shift},
                 {"x": (simd,)}, dut.latency)
    assert [g["x"] for g in got] == want


def test_operand_stage_rejects_narrow_xu():
    with pytest.raises(ValueError, match="xu_bits .* must be >= bits"):
        OperandStage(2, 8, 2, 4)


@pytest.mark.parametrize(("value_bits", "lane_bits"), [(19, 32), (13, 16), (5, 8)])
def test_operand_stage_drops_the_stored_sign_extension(value_bits, lane_bits):
    """A signed value stored sign-extended in a wider lane (rtl_gen/compile/image.py) gives
    the digits of ``x + 2^(value_bits-1)`` only, even when the top digit reaches past it."""
    rng = np.random.default_rng(value_bits)
    simd, a_bits = 5, 2
    dut = OperandStage(simd, lane_bits, a_bits, lane_bits)
    x_digits = -(-value_bits // a_bits)
    beats, want = [], []
    for _ in range(6):
        v = rng.integers(-(2 ** (value_bits - 1)), 2 ** (value_bits - 1), simd)
        raw = v & (2**lane_bits - 1)
        xu = v + 2 ** (value_bits - 1)
        for d in range(x_digits):
            beats.append({"lanes": raw.tolist(), "pad": 0, "pad_value": [0] * simd, "digit": d})
            want.append(((xu >> (a_bits * d)) & (2**a_bits - 1)).tolist())
    got = stream(dut, beats, {"flip_mask": 1 << (value_bits - 1), "input_shift": 0},
                 {"x": (simd,)}, dut.latency)
    assert [g["x"] for g in got] == want
