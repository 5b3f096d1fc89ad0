"""RPReLU on fixed point, per lane (the IR's ``rprelu`` node).

``z = x + b1``; ``z`` if ``z >= 0`` else ``round_shift(z * slope, Sa)``; ``sat(z + b2, W)``,
with per-channel ``b1``, ``slope``, ``b2`` and a per-layer ``Sa``. Pipelined
(rtl_gen/hw/pipelined.py): ``z``, the product in pieces, the rounding add, the shift, the
select, the add, compare, select; ``latency`` depends on the widths. The select and the
add of ``b2`` are registered apart: the sign of ``z`` selecting every bit in front of the
wide adder was a routed critical path (session 16).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from rtl_gen.hw import pipelined as pl
from rtl_gen.hw.common import check_ints, saturating_lanes

SHIFT_STEP = 3  # amount bits per shifter stage


class RPReLUUnit(wiring.Component):
    """``lanes`` RPReLU lanes; ``latency`` cycles."""

    def __init__(self, lanes: int, in_bits: int, param_bits: int, out_bits: int) -> None:
        check_ints("RPReLUUnit", lanes=(lanes, 1, 1024), in_bits=(in_bits, 2, 64),
                   param_bits=(param_bits, 2, 64), out_bits=(out_bits, 2, 64))
        self.lanes, self.in_bits, self.param_bits, self.out_bits = (lanes, in_bits, param_bits,
                                                                    out_bits)
        self.z_bits = max(in_bits, param_bits) + 1
        frac_bits = (self.z_bits + param_bits + 1).bit_length()
        self.latency = 1 + pl.mul_latency(self.z_bits, param_bits) + 1 \
            + -(-frac_bits // SHIFT_STEP) + 2 + pl.CLAMP_LATENCY
        p = data.ArrayLayout(signed(param_bits), lanes)
        super().__init__({
            "valid": In(1),
            "x": In(data.ArrayLayout(signed(in_bits), lanes)),
            "bias1": In(p), "slope": In(p), "bias2": In(p),
            "slope_frac": In(unsigned(6)),
            **saturating_lanes(lanes, out_bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        zb, pb = self.z_bits, self.param_bits
        # the per-layer rounding amount and constant, once for all lanes and registered (the
        # caller holds slope_frac while a group streams through)
        n = zb + pb
        frac = pl.reg(m, Mux(self.slope_frac > n + 1, n + 1, self.slope_frac), "frac",
                      range(n + 2))
        half = pl.reg(m, pl.round_half(frac, n + 2), "half", signed(n + 2))
        for lane in range(self.lanes):
            z = Signal(signed(zb), name=f"z{lane}")
            b2 = Signal(signed(pb), name=f"b2_{lane}")
            sl = Signal(signed(pb), name=f"slope{lane}")
            m.d.sync += [z.eq(self.x[lane] + self.bias1[lane]), b2.eq(self.bias2[lane]),
                         sl.eq(self.slope[lane])]
            prod, lat = pl.mul(m, z, sl, name=f"zs{lane}")
            # shifts beyond the product's width round everything to 0, as n + 1 does
            rnd = pl.reg(m, prod + half, f"rnd{lane}", signed(n + 2))
            neg, lsh = pl.shift_right(m, rnd, frac, name=f"neg{lane}", per=SHIFT_STEP)
            zd = pl.delay(m, z, lat + 1 + lsh, f"z{lane}")
            b2d = pl.delay(m, b2, lat + 2 + lsh, f"b2_{lane}")
            sel = pl.reg(m, Mux(zd >= 0, zd, neg), f"sel{lane}")
            pre = pl.reg(m, sel + b2d, f"pre{lane}")
            y, _ = pl.clamp(m, pre, self.lo, self.hi, name=f"sat{lane}")
            m.d.comb += self.y[lane].eq(y)
        m.d.comb += self.out_valid.eq(pl.delay(m, self.valid, self.latency, "valid"))
        return m
