"""The epilogue pipeline after the accumulators: ``requant -> add -> rprelu -> threshold x2``.

Each stage can be switched off by the layer program (``en_*``); a switched-off stage passes
its value through with the same latency, so the pipeline depth is fixed and the controller
only drains it between output-channel groups (when the per-channel parameters change).
The thresholds read the accumulator directly when ``en_requant`` is off (``conv ->
threshold`` layers) and the last fixed-point value otherwise (pool and vector layers enter
through the datapath's ``ext`` path, rtl_gen/hw/datapath.py). Per-lane parameters and the
per-layer shifts and limits are held constant by the caller during a group; the residual
operand enters with the accumulator and is delayed here to meet the add stage.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import param_select
from rtl_gen.hw import pipelined as pl
from rtl_gen.hw.add_unit import AddUnit
from rtl_gen.hw.common import check_int
from rtl_gen.hw.requant_unit import RequantUnit
from rtl_gen.hw.rprelu_unit import RPReLUUnit
from rtl_gen.hw.threshold_unit import ThresholdUnit


class Epilogue(wiring.Component):
    """``lanes`` epilogue lanes; ``latency`` cycles from ``valid`` to ``out_valid``.

    With ``groups > 1`` the lanes serve ``lanes * groups`` channels one slice at a time
    (rtl_gen/hw/lane_serializer.py): the per-channel parameters are ``lanes * groups`` wide
    and ``slice`` (with ``valid``) says which ``lanes`` of them the data belongs to; each
    stage selects its slice's parameters as the data reaches it."""

    def __init__(self, lanes: int, acc_bits: int, fixed_bits: int, mult_bits: int,
                 bias_bits: int, param_bits: int, code_bits: int, two_sided: bool,
                 groups: int = 1) -> None:
        check_int("Epilogue", "lanes", lanes, 1, 1024)
        check_int("Epilogue", "groups", groups, 1, 64)
        check_int("Epilogue", "fixed_bits", fixed_bits, 2, 64)
        self.lanes, self.acc_bits, self.fixed_bits = lanes, acc_bits, fixed_bits
        self.groups = groups
        self.value_bits = max(acc_bits, fixed_bits)
        self.requant = RequantUnit(lanes, acc_bits, mult_bits, bias_bits, fixed_bits)
        self.add = AddUnit(lanes, fixed_bits, fixed_bits, fixed_bits)
        self.rprelu = RPReLUUnit(lanes, fixed_bits, param_bits, fixed_bits)
        self.thr = [ThresholdUnit(lanes, self.value_bits, code_bits, two_sided)
                    for _ in range(2)]
        # + 1: the thresholds' input (fixed value or accumulator) is registered
        self.latency = (self.requant.latency + self.add.latency + self.rprelu.latency
                        + 1 + self.thr[0].latency)
        lay = data.ArrayLayout
        ch = lanes * groups  # channels of the per-channel parameters
        p = lay(signed(param_bits), ch)
        thr = self.thr[0]
        sig = {
            "valid": In(1), "slice": In(range(groups)),
            "acc": In(lay(signed(acc_bits), lanes)),
            "residual": In(lay(signed(fixed_bits), lanes)),
            "en_requant": In(1), "en_add": In(1), "en_rprelu": In(1),
            "mult": In(lay(signed(mult_bits), ch)), "bias": In(lay(signed(bias_bits), ch)),
            "shift": In(unsigned(7)),
            # saturation limits per stage (each IR node has its own output width)
            **{f"{st}_{b}": In(signed(fixed_bits)) for st in ("rq", "add", "rp")
               for b in ("lo", "hi")},
            "a_left": In(4), "a_right": In(4), "b_left": In(4), "b_right": In(4),
            "bias1": In(p), "slope": In(p), "bias2": In(p), "slope_frac": In(6),
            "out_valid": Out(1), "out_slice": Out(range(groups)),
            "fixed": Out(lay(signed(fixed_bits), lanes)),
        }
        for t in range(2):
            sig[f"pos{t}"] = In(lay(lay(signed(thr.t_bits), thr.levels), ch))
            if two_sided:
                sig[f"neg{t}"] = In(lay(lay(signed(thr.t_bits), thr.levels), ch))
                sig[f"breakpoint{t}"] = In(lay(signed(thr.t_bits), ch))
            sig[f"code{t}"] = Out(lay(unsigned(code_bits), lanes))
        self.two_sided = two_sided
        super().__init__(sig)

    def elaborate(self, platform) -> Module:
        m = Module()
        rq, ad, rp = self.requant, self.add, self.rprelu
        m.submodules.requant, m.submodules.add, m.submodules.rprelu = rq, ad, rp
        for t, u in enumerate(self.thr):
            m.submodules[f"thr{t}"] = u

        def delay(sig, n, name):  # long wide delays in LUT RAM (pipelined.delay_line)
            return pl.delay_line(m, sig, n, name)

        def param(arr, i, at, name):
            """Lane ``i``'s parameter in ``arr`` for the slice whose data enters a stage
            ``at`` cycles after the input: constant during a group when ``groups == 1``;
            otherwise selected by :mod:`param_select` (``at >= 2``: each select with its
            own copy of the slice index), selected one cycle ahead and registered
            (``at == 1``) or selected for a stage that registers its parameters on entry
            (``at == 0``)."""
            n = self.lanes
            if self.groups == 1:
                return arr[i]
            opts = [Value.cast(arr[g * n + i]) for g in range(self.groups)]
            if at == 0:
                return Array(opts)[self.slice]
            if at >= param_select.LATENCY:  # each select with its own copy of the index
                return param_select.select_chunks(m, opts, slices[at - param_select.LATENCY],
                                                  f"{name}{i}")
            return pl.reg(m, Array(opts)[slices[at - 1]], f"{name}{i}", opts[0].shape())

        n = self.lanes
        rq_at = 0
        rp_at = rq.latency + ad.latency
        thr_at = rp_at + rp.latency + 1
        slices = [self.slice]
        for k in range(thr_at + self.thr[0].latency):
            slices.append(pl.reg(m, slices[-1], f"slice_d{k}"))
        # requant (or pass the accumulator through, truncated to the fixed width)
        m.d.comb += [rq.valid.eq(self.valid), rq.shift.eq(self.shift), rq.lo.eq(self.rq_lo),
                     rq.hi.eq(self.rq_hi)]
        for i in range(n):
            m.d.comb += [rq.v[i].eq(self.acc[i]),
                         rq.mult[i].eq(param(self.mult, i, rq_at, "mult")),
                         rq.bias[i].eq(param(self.bias, i, rq_at, "bias"))]
        acc_d = delay(self.acc, rq.latency, "acc")
        res_d = delay(self.residual, rq.latency, "res")
        # add
        m.d.comb += [ad.valid.eq(rq.out_valid), ad.lo.eq(self.add_lo), ad.hi.eq(self.add_hi),
                     ad.a_left.eq(self.a_left), ad.a_right.eq(self.a_right),
                     ad.b_left.eq(self.b_left), ad.b_right.eq(self.b_right)]
        y1 = Signal(data.ArrayLayout(signed(self.fixed_bits), n))
        for i in range(n):
            m.d.comb += [y1[i].eq(rq.y[i]), ad.a[i].eq(rq.y[i]), ad.b[i].eq(res_d[i])]
        y1_d = delay(y1, ad.latency, "y1")
        acc_dd = delay(acc_d, ad.latency, "acc2")
        en_add = delay(self.en_add, rq.latency + ad.latency, "en_add")
        y2 = Signal(data.ArrayLayout(signed(self.fixed_bits), n))
        for i in range(n):
            m.d.comb += y2[i].eq(Mux(en_add, ad.y[i], y1_d[i]))
        # rprelu
        m.d.comb += [rp.valid.eq(ad.out_valid), rp.lo.eq(self.rp_lo), rp.hi.eq(self.rp_hi),
                     rp.slope_frac.eq(self.slope_frac)]
        for i in range(n):
            m.d.comb += [rp.x[i].eq(y2[i]),
                         rp.bias1[i].eq(param(self.bias1, i, rp_at, "bias1_")),
                         rp.slope[i].eq(param(self.slope, i, rp_at, "slope_")),
                         rp.bias2[i].eq(param(self.bias2, i, rp_at, "bias2_"))]
        y2_d = delay(y2, rp.latency, "y2")
        acc_ddd = delay(acc_dd, rp.latency, "acc3")
        en_rp = delay(self.en_rprelu, rq.latency + ad.latency + rp.latency, "en_rp")
        en_rq = delay(self.en_requant, rq.latency + ad.latency + rp.latency, "en_rq")
        y3 = Signal(data.ArrayLayout(signed(self.fixed_bits), n))
        for i in range(n):
            m.d.comb += y3[i].eq(Mux(en_rp, rp.y[i], y2_d[i]))
        # thresholds on the fixed value, or on the raw accumulator without requant; the
        # choice registered (a select after a select, then a compare, missed 150 MHz)
        tv = Signal(data.ArrayLayout(signed(self.value_bits), n))
        tvalid = Signal()
        m.d.sync += tvalid.eq(rp.out_valid)
        for i in range(n):
            m.d.sync += tv[i].eq(Mux(en_rq, y3[i], acc_ddd[i]))
        for t, u in enumerate(self.thr):
            m.d.comb += u.valid.eq(tvalid)
            for i in range(n):
                m.d.comb += [u.v[i].eq(tv[i]),
                             u.pos[i].eq(param(getattr(self, f"pos{t}"), i, thr_at,
                                               f"pos{t}_"))]
                if self.two_sided:
                    m.d.comb += [u.neg[i].eq(param(getattr(self, f"neg{t}"), i, thr_at,
                                                   f"neg{t}_")),
                                 u.breakpoint[i].eq(param(getattr(self, f"breakpoint{t}"), i,
                                                          thr_at, f"bp{t}_"))]
                m.d.comb += getattr(self, f"code{t}")[i].eq(u.code[i])
        y3_d = delay(y3, 1 + self.thr[0].latency, "y3")
        m.d.comb += [self.fixed.eq(y3_d), self.out_valid.eq(self.thr[0].out_valid),
                     self.out_slice.eq(slices[-1])]
        return m
