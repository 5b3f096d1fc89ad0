"""Requantise unit: accumulator to fixed point, per lane (the IR's ``requant`` node).

``y = sat(floor_div(v * M + B, 2^S), W)`` with per-channel ``M``, ``B`` (the rounding
constant is already in ``B``) and a per-layer shift ``S`` and saturation range ``[lo, hi]``.
Pipelined for an FPGA clock (rtl_gen/hw/pipelined.py): input registers, the product in
pieces of at most 18 x 18 bits with ``B`` as one more term of their registered sum tree, the
shift by ``per``-bit steps, then compare and select; ``latency`` depends on the widths.
"""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from rtl_gen.hw import pipelined as pl
from rtl_gen.hw.common import check_ints, saturating_lanes

SHIFT_STEP = 4  # amount bits per shifter stage


class RequantUnit(wiring.Component):
    """``lanes`` multiply-add-shift-saturate lanes; ``latency`` cycles."""

    def __init__(self, lanes: int, in_bits: int, mult_bits: int, bias_bits: int,
                 out_bits: int) -> None:
        check_ints("RequantUnit", lanes=(lanes, 1, 1024), in_bits=(in_bits, 2, 64),
                   mult_bits=(mult_bits, 2, 40), bias_bits=(bias_bits, 2, 96),
                   out_bits=(out_bits, 2, 64))
        self.lanes, self.in_bits, self.mult_bits = lanes, in_bits, mult_bits
        self.bias_bits, self.out_bits = bias_bits, out_bits
        self.sum_bits = max(in_bits + mult_bits, bias_bits) + 1
        self.latency = 1 + pl.mul_latency(in_bits, mult_bits, 1) + -(-7 // SHIFT_STEP) + pl.CLAMP_LATENCY
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
            v = pl.reg(m, self.v[lane], f"v{lane}")
            mult = pl.reg(m, self.mult[lane], f"m{lane}")
            bias = pl.reg(m, self.bias[lane], f"b{lane}")
            madd, _ = pl.mul(m, v, mult, extra=[bias], width=self.sum_bits,
                             name=f"madd{lane}")
            sh, _ = pl.shift_right(m, madd, self.shift, name=f"sh{lane}", per=SHIFT_STEP)
            y, _ = pl.clamp(m, sh, self.lo, self.hi, name=f"sat{lane}")
            m.d.comb += self.y[lane].eq(y)
        m.d.comb += self.out_valid.eq(pl.delay(m, self.valid, self.latency, "valid"))
        return m
