"""The engine's compute datapath: MAC array -> accumulators -> serial epilogue.

One beat per cycle carries SIMD activation digits, the PE x SIMD weight digits and the
beat's flags (``first``/``last`` of a dot product, ``corr`` on the ``e = 0`` weight digit,
and the digit shifts). Pool layers bypass the array: ``ext_valid``/``ext_acc`` enter the
epilogue directly (never in the same cycle as a finished dot product). ``epi_valid`` marks
the cycle a value enters the epilogue; the residual operand of a fused add must be on
``residual`` in that cycle. Layer constants (epilogue enables, shifts, limits) and
per-channel parameters of the current output-channel group are held by the caller.

The epilogue is ``epi_lanes`` wide (a divisor of ``pe``): each finished PE-wide vector
goes through it in ``pe / epi_lanes`` slices (rtl_gen/hw/lane_serializer.py), so vectors
must enter at least ``groups = pe / epi_lanes`` cycles apart (the engine's beat issuer
spaces the last beats of its pixels so; ``overrun`` flags a violation).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.accumulator import Accumulator
from rtl_gen.hw.common import check_int
from rtl_gen.hw.epilogue import Epilogue
from rtl_gen.hw.lane_deserializer import LaneDeserializer
from rtl_gen.hw.lane_serializer import LaneSerializer
from rtl_gen.hw.mac_array import MacArray

# the epilogue inputs the datapath drives itself (the rest pass through from the caller)
_EPI_OWN = ("valid", "slice", "acc", "residual")
# flag bits carried through the MAC array's tag sideband
_FIRST, _LAST, _CORR = 0, 1, 2


class Datapath(wiring.Component):
    """MacArray + Accumulator + Epilogue for ``pe`` x ``simd`` lanes."""

    def __init__(self, pe: int, simd: int, a_bits: int, w_bits: int, *, ow_bits: int,
                 acc_bits: int, fixed_bits: int, mult_bits: int, bias_bits: int,
                 param_bits: int, code_bits: int, two_sided: bool,
                 epi_lanes: int | None = None, cells: str = "") -> None:
        epi_lanes = pe if epi_lanes is None else epi_lanes
        check_int("Datapath", "epi_lanes", epi_lanes, 1, pe)
        if pe % epi_lanes:
            raise ValueError(f"Datapath epi_lanes must divide pe ({pe}), got {epi_lanes}")
        self.groups = pe // epi_lanes
        self.mac = MacArray(pe, simd, a_bits, w_bits, tag_bits=3 + 12, cells=cells)
        self.accu = Accumulator(pe, self.mac.dot_bits, self.mac.xsum_bits, ow_bits, acc_bits)
        self.ser = LaneSerializer(pe, self.groups, {"acc": signed(acc_bits),
                                                    "residual": signed(fixed_bits)})
        self.epi = Epilogue(epi_lanes, acc_bits, fixed_bits, mult_bits, bias_bits, param_bits,
                            code_bits, two_sided, groups=self.groups)
        code = self.epi.thr[0].code_bits
        self.des = LaneDeserializer(pe, self.groups, {"fixed": signed(fixed_bits),
                                                      "code0": unsigned(code),
                                                      "code1": unsigned(code)})
        # vector in -> first slice (1) -> epilogue -> last slice (groups - 1) -> vector (1)
        self.ext_latency = 1 + self.epi.latency + self.groups - 1 + 1
        self.latency = self.mac.latency + self.accu.latency + self.ext_latency
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
            "epi_valid": Out(1), "overrun": Out(1),
        }
        # epilogue controls and parameters pass straight through
        for name, member in self.epi.signature.members.items():
            if member.flow == In and name not in _EPI_OWN:
                sig[name] = In(member.shape)
        sig["out_valid"] = Out(1)
        for name, member in self.des.signature.members.items():
            if member.flow == Out and name != "out_valid":
                sig[name] = Out(member.shape)
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        mac, accu, ser, epi, des = self.mac, self.accu, self.ser, self.epi, self.des
        m.submodules.mac, m.submodules.accu, m.submodules.epi = mac, accu, epi
        m.submodules.ser, m.submodules.des = ser, des
        m.d.comb += [mac.valid.eq(self.valid), mac.x.eq(self.x), mac.w.eq(self.w),
                     mac.tag.eq(self.first | (self.last << _LAST) | (self.corr << _CORR)
                                | (self.dot_shift << 3) | (self.x_shift << 9))]
        tag = mac.out_tag
        m.d.comb += [accu.valid.eq(mac.out_valid), accu.first.eq(tag[_FIRST]),
                     accu.last.eq(tag[_LAST]), accu.corr.eq(tag[_CORR]),
                     accu.dot_shift.eq(tag[3:9]), accu.x_shift.eq(tag[9:15]),
                     accu.dot.eq(mac.dot), accu.xsum.eq(mac.xsum), accu.ow.eq(self.ow),
                     accu.init.eq(self.init)]
        m.d.comb += [ser.valid.eq(accu.out_valid | self.ext_valid),
                     ser.acc.eq(Mux(self.ext_valid, self.ext_acc, accu.acc)),
                     ser.residual.eq(self.residual), self.epi_valid.eq(ser.valid),
                     self.overrun.eq(ser.overrun),
                     epi.valid.eq(ser.s_valid), epi.slice.eq(ser.s_slice),
                     epi.acc.eq(ser.s_acc), epi.residual.eq(ser.s_residual)]
        for name, member in epi.signature.members.items():
            if member.flow == In and name not in _EPI_OWN:
                m.d.comb += getattr(epi, name).eq(getattr(self, name))
        m.d.comb += [des.valid.eq(epi.out_valid), des.slice.eq(epi.out_slice),
                     des.s_fixed.eq(epi.fixed), des.s_code0.eq(epi.code0),
                     des.s_code1.eq(epi.code1),
                     self.out_valid.eq(des.out_valid), self.fixed.eq(des.fixed),
                     self.code0.eq(des.code0), self.code1.eq(des.code1)]
        return m
