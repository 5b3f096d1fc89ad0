"""Requantise unit: accumulator to fixed point, per lane (the IR's ``requant`` node).

``y = sat(floor_div(v * M + B, 2^S), W)`` with per-channel ``M``, ``B`` (the rounding
constant is already in ``B``) and a per-layer shift ``S`` and saturation range ``[lo, hi]``.
Two register stages: multiply-add, then shift and saturate.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from rtl_gen.hw.common import check_ints, clamp, saturating_lanes


class RequantUnit(wiring.Component):
    """``lanes`` multiply-add-shift-saturate lanes; latency 2."""

    latency = 2

    def __init__(self, lanes: int, in_bits: int, mult_bits: int, bias_bits: int,
                 out_bits: int) -> None:
        check_ints("RequantUnit", lanes=(lanes, 1, 1024), in_bits=(in_bits, 2, 64),
                   mult_bits=(mult_bits, 2, 40), bias_bits=(bias_bits, 2, 96),
                   out_bits=(out_bits, 2, 64))
        self.lanes, self.in_bits, self.mult_bits = lanes, in_bits, mult_bits
        self.bias_bits, self.out_bits = bias_bits, out_bits
        self.sum_bits = max(in_bits + mult_bits, bias_bits) + 1
        super().__init__({
            "valid": In(1),
            "v": In(data.ArrayLayout(signed(in_bits), lanes)),
            "mult": In(data.ArrayLayout(signed(mult_bits), lanes)),
            "bias": In(data.ArrayLayout(signed(bias_bits), lanes)),
            "shift": In(unsigned(7)),
            **saturating_lanes(lanes, out_bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        for lane in range(self.lanes):
            acc = Signal(signed(self.sum_bits), name=f"madd{lane}")
            m.d.sync += acc.eq(self.v[lane] * self.mult[lane] + self.bias[lane])
            m.d.sync += self.y[lane].eq(clamp(acc >> self.shift, self.lo, self.hi))
        v1 = Signal()
        m.d.sync += [v1.eq(self.valid), self.out_valid.eq(v1)]
        return m
