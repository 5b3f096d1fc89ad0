"""RPReLU on fixed point, per lane (the IR's ``rprelu`` node).

``z = x + b1``; ``z`` if ``z >= 0`` else ``round_shift(z * slope, Sa)``; ``sat(z + b2, W)``,
with per-channel ``b1``, ``slope``, ``b2`` and a per-layer ``Sa``. Two register stages.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from rtl_gen.hw.common import check_ints, clamp, round_shift, saturating_lanes


class RPReLUUnit(wiring.Component):
    """``lanes`` RPReLU lanes; latency 2."""

    latency = 2

    def __init__(self, lanes: int, in_bits: int, param_bits: int, out_bits: int) -> None:
        check_ints("RPReLUUnit", lanes=(lanes, 1, 1024), in_bits=(in_bits, 2, 64),
                   param_bits=(param_bits, 2, 64), out_bits=(out_bits, 2, 64))
        self.lanes, self.in_bits, self.param_bits, self.out_bits = (lanes, in_bits, param_bits,
                                                                    out_bits)
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
        zb = max(self.in_bits, self.param_bits) + 1
        for lane in range(self.lanes):
            z = Signal(signed(zb), name=f"z{lane}")
            b2 = Signal(signed(self.param_bits), name=f"b2_{lane}")
            sl = Signal(signed(self.param_bits), name=f"slope{lane}")
            m.d.sync += [z.eq(self.x[lane] + self.bias1[lane]), b2.eq(self.bias2[lane]),
                         sl.eq(self.slope[lane])]
            neg = round_shift(z * sl, self.slope_frac)
            m.d.sync += self.y[lane].eq(clamp(Mux(z >= 0, z, neg) + b2, self.lo, self.hi))
        v1 = Signal()
        m.d.sync += [v1.eq(self.valid), self.out_valid.eq(v1)]
        return m
