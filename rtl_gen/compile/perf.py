"""Performance model: predicted cycles per layer of the engine top level.

It follows rtl_gen/hw/engine.py. A layer first loads its descriptor and chunk table and,
when the input fits the activation buffer, the input (one word per cycle, not overlapped),
then group 0's parameters and weights. Each output-channel group then computes
``pixels x per_pixel`` cycles, where a conv pixel costs ``sum over chunks of max(digit
passes, fetch segments)`` (a chunk's fetch overlaps the previous chunk's beats) and a pool
pixel one cycle per window position or the words that position reads, and every pixel at
least the serial epilogue's slices per vector; then the epilogue drains before the next
group's parameters are swapped in, while the fetch unit already reads the next group's
first chunks (``prefetch_gain``). While a group computes, the memory port carries the next
group's parameters and weights, the words a group reads directly from memory (inputs that
do not fit the buffer, residual rows) and its output rows, one word per cycle, so a group
takes ``max(compute + drain, port words)``.

``ideal`` cycles are the array's useful work, ``O * K * pixels * passes / (PE * SIMD)``
(digit passes included: wide layers do that much more work on the same array); MAC-array
utilisation = ideal / predicted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from n2uq_hw.errors import N2UQError
from rtl_gen.compile.chunks import chunk_count, chunks, fetch_words
from rtl_gen.compile.image import per_word, row_words, storage_bits
from rtl_gen.compile.program import Layer, Program

BURST = 6  # cycles from a burst's start to its first word (arbiter, memory, FIFO)
# fetch-queue pop to the datapath (through the 3-cycle operand stage), and the output queue
# to the writers (through their input register slices)
ISSUE_LATENCY = 9


@dataclass
class LayerPerf:
    name: str
    kind: str
    macs: int  # IR multiply-accumulates (one per weight x input term)
    passes: int  # digit passes (1 for low-bit layers)
    compute: int
    memory: int
    predicted: int
    ideal: float
    weight_bits: int
    in_bits: int
    out_bits: int

    @property
    def utilisation(self) -> float:
        return self.ideal / self.predicted if self.predicted else 0.0


def _bits(t) -> int:
    return int(np.prod(t.shape)) * t.bits


@dataclass(frozen=True)
class EngineCosts:
    """The engine-organisation constants the model needs (rtl_gen/hw/engine.py)."""

    slot_words: int  # memory words per 64-bit slot
    desc_slots: int
    param_fields: int
    latency: int  # datapath: MAC array + accumulator + epilogue
    pool_latency: int  # pool unit + epilogue
    epi_groups: int  # slices per vector in the serial epilogue: cycles per pixel at least
    fetch_depth: int  # chunks the activation fetch unit reads ahead


def _silence(obj, depth: int = 4) -> None:
    """Mark ``obj`` and its sub-components as deliberately unused (no UnusedElaboratable
    warnings for a component built only to read its parameters)."""
    from amaranth.hdl import Elaboratable

    if isinstance(obj, Elaboratable):
        obj._MustUse__silence = True
    if depth:
        for v in vars(obj).values() if hasattr(obj, "__dict__") else ():
            for x in v if isinstance(v, list) else [v]:
                if isinstance(x, Elaboratable):
                    _silence(x, depth - 1)


def engine_costs(program: Program, spec=None) -> EngineCosts:
    """The costs of the engine generated for ``program``, or of the (shared) engine
    ``spec`` it runs on (rtl_gen/compile/descriptor.py ``union_spec``)."""
    from rtl_gen.compile.descriptor import _COMMON, _WRITER, _outputs, param_fields
    from rtl_gen.generate import widths
    from rtl_gen.hw.datapath import Datapath
    from rtl_gen.hw.engine import FETCH_DEPTH
    from rtl_gen.hw.pool_unit import PoolUnit

    cfg = program.config
    if spec is not None:
        w, n_writers = spec.w, len(spec.writers)
    else:
        w = widths(program)
        writers = set()
        for layer in program.layers:
            try:
                outs = _outputs(program, layer)
            except N2UQError:
                outs = {}
            writers |= {(src, storage_bits(program.graph.node(n).type.bits))
                        for n, src in outs.items()}
        n_writers = len(writers)
    dp = Datapath(cfg.pe, cfg.simd, cfg.a_bits, cfg.w_bits, ow_bits=w["ow"], acc_bits=w["acc"],
                  fixed_bits=w["fixed"], mult_bits=w["mult"], bias_bits=w["bias"],
                  param_bits=w["param"], code_bits=w["code"], two_sided=bool(w["two_sided"]),
                  epi_lanes=spec.epi if spec is not None else cfg.epi)
    _silence(dp)  # built only for its latencies, never elaborated
    return EngineCosts(max(1, 64 // cfg.mem_bits), len(_COMMON) + len(_WRITER) * n_writers,
                       len(param_fields(2 ** w["code"] - 1, bool(w["two_sided"]))), dp.latency,
                       PoolUnit.latency + dp.ext_latency, dp.groups, FETCH_DEPTH)


def prefetch_gain(segs: list[int], beats: int, drain: int, depth: int) -> int:
    """Cycles of an epilogue drain that the next group wins back: while the epilogue
    drains, the fetch unit reads up to ``depth`` chunks ahead (``segs[i]`` cycles each, the
    pixel's chunks in order); the issuer later takes each in ``beats`` cycles instead of
    waiting for its words, so a fetch-bound layer (pools: one beat a chunk) hides most of
    the drain and a beat-bound one none of it."""
    gain = t = 0
    for i in range(depth):
        s = segs[i % len(segs)]
        t += s
        if t > drain:
            break
        gain += max(0, s - beats)
    return min(gain, drain)


def layer_perf(program: Program, layer: Layer, costs: EngineCosts) -> LayerPerf:
    from rtl_gen.compile.descriptor import chunk_slots, layer_dims

    g, cfg = program.graph, program.config
    outs = sum(_bits(g.node(n).type) for n in layer.writes)
    ins = sum(_bits(g.node(n).type) for n in layer.reads)
    d = layer_dims(program, layer)
    x = g.node(layer.reads[0]).type
    xs = storage_bits(x.bits)
    wps, mb = costs.slot_words, cfg.mem_bits
    pixels, groups = d["OH"] * d["OW"], math.ceil(d["O"] / cfg.pe)
    in_words = (int(np.prod(x.shape[1:])) if len(x.shape) > 1 else 1) * row_words(
        x.shape[0], xs, mb)
    abuf = in_words <= cfg.abuf_bits // mb
    setup = (costs.desc_slots * wps + BURST + len(chunk_slots(program, layer)) * wps + BURST
             + (in_words + BURST if abuf else 0))
    load = cfg.pe * costs.param_fields * wps + BURST
    if layer.kind == "conv":
        plan = layer.plan
        segs = [fetch_words(c, d["I"], d["k"], xs, mb) for c in chunks(d["I"], d["k"], cfg.simd)]
        per_pixel = sum(max(plan.passes, s) for s in segs)
        wwords = (chunk_count(d["I"], d["k"], cfg.simd) * plan.w_digits
                  * row_words(cfg.pe * cfg.simd, cfg.w_bits, mb))
        load += wwords + BURST
        macs = d["O"] * d["K"] * pixels
        ideal = macs * plan.passes / (cfg.pe * cfg.simd)
        passes = beats = plan.passes
    else:
        words = math.ceil(min(cfg.pe, d["I"]) * xs / mb) if xs <= mb else min(cfg.pe, d["I"])
        segs = [words] * (d["k"] * d["k"])
        per_pixel = sum(max(1, s) for s in segs)
        wwords, macs, ideal, passes, beats = 0, 0, 0.0, 1, 1
    direct = 0 if abuf else sum(segs)
    res = 0
    if len(layer.reads) > 1:
        r = g.node(layer.reads[1]).type
        res = math.ceil(cfg.pe * storage_bits(r.bits) / mb)
    writes = sum(max(1, cfg.pe // per_word(storage_bits(g.node(n).type.bits), mb))
                 for n in layer.writes)
    # the serial epilogue takes a pixel's vector in epi_groups slices (rtl_gen/hw/datapath.py)
    compute = pixels * max(per_pixel, costs.epi_groups)
    port = pixels * (direct + res + writes)
    drain = (costs.latency if layer.kind == "conv" else costs.pool_latency) + ISSUE_LATENCY
    # every group but the last also carries the next group's parameters and weights, and
    # overlaps its drain with the next group's prefetch
    hidden = prefetch_gain([max(1, s) for s in segs], beats, drain, costs.fetch_depth)
    predicted = (setup + load + (groups - 1) * max(compute + drain - hidden, port + load)
                 + max(compute + drain, port))
    return LayerPerf(layer.name, layer.kind, macs, passes, groups * compute,
                     groups * port + (groups - 1) * load + setup, predicted, ideal, groups * wwords * mb, ins, outs)


def program_perf(program: Program, spec=None) -> list[LayerPerf]:
    """Predicted cycles of every layer on the program's own engine or on ``spec``."""
    costs = engine_costs(program, spec)
    return [layer_perf(program, layer, costs) for layer in program.layers]


def summary(perfs: list[LayerPerf], clock_mhz: float) -> dict:
    cycles = sum(p.predicted for p in perfs)
    ideal = sum(p.ideal for p in perfs)
    macs = sum(p.macs for p in perfs)
    return {"cycles": cycles, "ideal_cycles": ideal, "utilisation": ideal / cycles,
            "macs": macs, "clock_mhz": clock_mhz,
            "fps": clock_mhz * 1e6 / cycles, "latency_ms": cycles / (clock_mhz * 1e3),
            "weight_bits": sum(p.weight_bits for p in perfs)}
