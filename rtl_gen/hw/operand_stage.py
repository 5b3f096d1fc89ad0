"""Operand stage: assembled lanes -> the activation digit the array multiplies this beat.

Per lane ``xu = ox[lane]`` for padding, else ``(raw ^ flip_mask) << input_shift``
(rtl_gen/compile/operands.py: codes and pixels are used as they are, two's-complement fixed
point and accumulators get their sign bit flipped, i.e. ``+ 2^(bits-1)`` with ``flip_mask = 2^(bits-1)``
at the element's own width (stored sign-extended, rtl_gen/compile/image.py; the digits
never reach the bits above it); the image's shift
makes room for sub-grey-level padding). The digit ``d`` is ``(xu >> a d) & (2^a - 1)``.
Layer constants (``flip_mask``, ``input_shift``) and the chunk's per-lane pad values are held by
the caller (and registered here: they must be set a cycle before a layer's first beat); the
digit index changes per beat. Latency 3 (for the clock): the flipped element shifted by the
low two bits of ``input_shift`` with the lane's pad flag and value, then ``xu`` (the rest of
the shift or the pad value), then the digit, each registered with the beat's digit index.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints


class OperandStage(wiring.Component):
    """``simd`` lanes of ``bits``-bit elements to ``a_bits``-bit digits of ``xu``."""

    latency = 3

    def __init__(self, simd: int, bits: int, a_bits: int, xu_bits: int) -> None:
        check_ints("OperandStage", simd=(simd, 1, 1024), bits=(bits, 1, 64),
                   a_bits=(a_bits, 1, 8), xu_bits=(xu_bits, 1, 64))
        if xu_bits < bits:
            raise ValueError(f"OperandStage xu_bits ({xu_bits}) must be >= bits ({bits})")
        self.simd, self.bits, self.a_bits, self.xu_bits = simd, bits, a_bits, xu_bits
        self.digits = -(-xu_bits // a_bits)
        super().__init__({
            "valid": In(1),
            "lanes": In(data.ArrayLayout(unsigned(bits), simd)), "pad": In(simd),
            "pad_value": In(data.ArrayLayout(unsigned(xu_bits), simd)),
            "flip_mask": In(bits), "input_shift": In(range(xu_bits + 1)),
            "digit": In(range(self.digits)),
            "out_valid": Out(1),
            "x": Out(data.ArrayLayout(unsigned(a_bits), simd)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        # layer constants, registered here (the descriptor sits in the loader); the shift is
        # split in two, its low two bits in stage 1 and the rest in stage 2, so neither
        # stage is a whole barrel shifter
        keep = Signal(self.bits)
        sh_lo, sh_hi = Signal(2), Signal.like(self.input_shift)
        m.d.sync += [keep.eq(Mux(self.flip_mask != 0, (self.flip_mask << 1) - 1, ~0)),
                     sh_lo.eq(self.input_shift[:2]), sh_hi.eq(self.input_shift & ~3)]
        digit1, valid1 = Signal.like(self.digit), Signal()
        digit2, valid2 = Signal.like(self.digit), Signal()
        m.d.sync += [digit1.eq(self.digit), valid1.eq(self.valid),
                     digit2.eq(digit1), valid2.eq(valid1)]
        for j in range(self.simd):
            raw = self.lanes[j]
            # stage 1: the flipped element (a flipped, signed element keeps only its own
            # width: the stored sign extension above it must not reach the top digit), and
            # the lane's pad flag and value
            v = Signal(self.bits + 3, name=f"v{j}")
            pad, pv = Signal(name=f"pad{j}"), Signal(self.xu_bits, name=f"pv{j}")
            m.d.sync += [v.eq(((raw ^ self.flip_mask) & keep) << sh_lo), pad.eq(self.pad[j]),
                         pv.eq(self.pad_value[j])]
            # stage 2: the rest of the shift (a layer constant amount) or the pad value
            xu = Signal(self.xu_bits, name=f"xu{j}")
            m.d.sync += xu.eq(Mux(pad, pv, v << sh_hi))
            # stage 3: the beat's digit
            m.d.sync += self.x[j].eq((xu >> (digit2 * self.a_bits))[: self.a_bits])
        m.d.sync += self.out_valid.eq(valid2)
        return m
