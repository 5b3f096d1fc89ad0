"""The engine's compute datapath: MAC array -> accumulators -> epilogue.

One beat per cycle carries SIMD activation digits, the PE x SIMD weight digits and the
beat's flags (``first``/``last`` of a dot product, ``corr`` on the ``e = 0`` weight digit,
and the digit shifts). Pool layers bypass the array: ``ext_valid``/``ext_acc`` enter the
epilogue directly (never in the same cycle as a finished dot product). ``epi_valid`` marks
the cycle a value enters the epilogue; the residual operand of a fused add must be on
``residual`` in that cycle. Layer constants (epilogue enables, shifts, limits) and
per-channel parameters of the current output-channel group are held by the caller.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.accumulator import Accumulator
from rtl_gen.hw.epilogue import Epilogue
from rtl_gen.hw.mac_array import MacArray

# flag bits carried through the MAC array's tag sideband
_FIRST, _LAST, _CORR = 0, 1, 2


class Datapath(wiring.Component):
    """MacArray + Accumulator + Epilogue for ``pe`` x ``simd`` lanes."""

    def __init__(self, pe: int, simd: int, a_bits: int, w_bits: int, *, ow_bits: int,
                 acc_bits: int, fixed_bits: int, mult_bits: int, bias_bits: int,
                 param_bits: int, code_bits: int, two_sided: bool) -> None:
        self.mac = MacArray(pe, simd, a_bits, w_bits, tag_bits=3 + 12)
        self.accu = Accumulator(pe, self.mac.dot_bits, self.mac.xsum_bits, ow_bits, acc_bits)
        self.epi = Epilogue(pe, acc_bits, fixed_bits, mult_bits, bias_bits, param_bits,
                            code_bits, two_sided)
        self.latency = self.mac.latency + self.accu.latency + self.epi.latency
        self.ext_latency = self.epi.latency
        self.pe, self.fixed_bits = pe, fixed_bits
        sig = {
            "valid": In(1), "first": In(1), "last": In(1), "corr": In(1),
            "dot_shift": In(6), "x_shift": In(6),
            "x": In(data.ArrayLayout(self.mac.x.shape().elem_shape, simd)),
            "w": In(self.mac.w.shape()),
            "residual": In(data.ArrayLayout(signed(fixed_bits), pe)),
            "init": In(data.ArrayLayout(signed(acc_bits), pe)),
            "ow": In(ow_bits),
            "ext_valid": In(1), "ext_acc": In(data.ArrayLayout(signed(acc_bits), pe)),
            "epi_valid": Out(1),
        }
        # epilogue controls and parameters pass straight through
        for name, member in self.epi.signature.members.items():
            if member.flow == In and name not in ("valid", "acc", "residual"):
                sig[name] = In(member.shape)
        sig["out_valid"] = Out(1)
        sig["fixed"] = Out(data.ArrayLayout(signed(fixed_bits), pe))
        for t in range(2):
            sig[f"code{t}"] = Out(self.epi.signature.members[f"code{t}"].shape)
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        mac, accu, epi = self.mac, self.accu, self.epi
        m.submodules.mac, m.submodules.accu, m.submodules.epi = mac, accu, epi
        m.d.comb += [mac.valid.eq(self.valid), mac.x.eq(self.x), mac.w.eq(self.w),
                     mac.tag.eq(self.first | (self.last << _LAST) | (self.corr << _CORR)
                                | (self.dot_shift << 3) | (self.x_shift << 9))]
        tag = mac.out_tag
        m.d.comb += [accu.valid.eq(mac.out_valid), accu.first.eq(tag[_FIRST]),
                     accu.last.eq(tag[_LAST]), accu.corr.eq(tag[_CORR]),
                     accu.dot_shift.eq(tag[3:9]), accu.x_shift.eq(tag[9:15]),
                     accu.dot.eq(mac.dot), accu.xsum.eq(mac.xsum), accu.ow.eq(self.ow),
                     accu.init.eq(self.init)]
        m.d.comb += [epi.valid.eq(accu.out_valid | self.ext_valid),
                     epi.acc.eq(Mux(self.ext_valid, self.ext_acc, accu.acc)),
                     epi.residual.eq(self.residual), self.epi_valid.eq(epi.valid)]
        for name, member in epi.signature.members.items():
            if member.flow == In and name not in ("valid", "acc", "residual"):
                m.d.comb += getattr(epi, name).eq(getattr(self, name))
        m.d.comb += [self.out_valid.eq(epi.out_valid), self.fixed.eq(epi.fixed),
                     self.code0.eq(epi.code0), self.code1.eq(epi.code1)]
        return m
