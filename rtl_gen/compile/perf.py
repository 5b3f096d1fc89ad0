"""Performance model: predicted cycles per layer of the engine.

Conv layers (loop nest ``for og in ceil(O/PE): for pixel: for kc (window chunk, rtl_gen/
compile/chunks.py): for (d, e) digit pair``, one array cycle per innermost step; a chunk's
activations are fetched once and reused by its digit pairs). Weights of one output-channel group are double-buffered on chip, so loading
the next group overlaps compute; the input feature map is held on chip when it fits half the
activation buffer, else re-read once per group. A layer takes ``max(compute, memory)`` plus
a pipeline fill per group and a fixed setup. Vector layers move ``PE`` elements per cycle.

``ideal`` cycles are the array's useful work, ``O * K * pixels * passes / (PE * SIMD)``
(digit passes included: wide layers do that much more work on the same array); MAC-array
utilisation = ideal / predicted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rtl_gen.compile.chunks import chunk_count, chunk_cycles
from rtl_gen.compile.image import row_words, storage_bits
from rtl_gen.compile.program import Layer, Program, conv_dims

SETUP_CYCLES = 32  # program fetch and address-generator setup per layer
EPILOGUE_LATENCY = 8  # threshold/requant/add/rprelu pipeline depth, upper bound


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


def layer_perf(program: Program, layer: Layer) -> LayerPerf:
    g, cfg = program.graph, program.config
    outs = sum(_bits(g.node(n).type) for n in layer.writes)
    ins = sum(_bits(g.node(n).type) for n in layer.reads)
    if layer.kind == "conv":
        d, plan = conv_dims(g, layer), layer.plan
        pixels = d["OH"] * d["OW"]
        groups = math.ceil(d["O"] / cfg.pe)
        x_bits = storage_bits(g.node(layer.reads[0]).type.bits)
        per_pixel = chunk_cycles(d["I"], d["k"], cfg.simd, x_bits, cfg.mem_bits, plan.passes)
        compute = groups * pixels * per_pixel
        # the stream as emitted: every (group, chunk, digit) block of PE x SIMD digits
        wbits = groups * chunk_count(d["I"], d["k"], cfg.simd) * plan.w_digits * \
            row_words(cfg.pe * cfg.simd, cfg.w_bits, cfg.mem_bits) * cfg.mem_bits
        x_in = _bits(g.node(layer.reads[0]).type)
        reread = groups if x_in > cfg.abuf_bits // 2 else 1
        memory = math.ceil((wbits + ins + x_in * (reread - 1) + outs) / cfg.mem_bits)
        depth = 1 + math.ceil(math.log2(max(cfg.simd, 2))) + EPILOGUE_LATENCY
        predicted = max(compute, memory) + groups * depth + SETUP_CYCLES
        macs = d["O"] * d["K"] * pixels
        ideal = macs * plan.passes / (cfg.pe * cfg.simd)
        return LayerPerf(layer.name, "conv", macs, plan.passes, compute, memory, predicted,
                         ideal, wbits, ins, outs)
    node = g.node(layer.nodes[0])
    x = g.node(node.inputs[0]).type
    elems = int(np.prod(x.shape))
    if layer.kind == "maxpool":
        k = int(node.attrs["kernel"])
        elems = int(np.prod(node.type.shape)) * k * k
    compute = math.ceil(elems / cfg.pe)
    memory = math.ceil((ins + outs) / cfg.mem_bits)
    predicted = max(compute, memory) + EPILOGUE_LATENCY + SETUP_CYCLES
    return LayerPerf(layer.name, layer.kind, 0, 1, compute, memory, predicted, 0.0, 0, ins,
                     outs)


def program_perf(program: Program) -> list[LayerPerf]:
    return [layer_perf(program, layer) for layer in program.layers]


def summary(perfs: list[LayerPerf], clock_mhz: float) -> dict:
    cycles = sum(p.predicted for p in perfs)
    ideal = sum(p.ideal for p in perfs)
    macs = sum(p.macs for p in perfs)
    return {"cycles": cycles, "ideal_cycles": ideal, "utilisation": ideal / cycles,
            "macs": macs, "clock_mhz": clock_mhz,
            "fps": clock_mhz * 1e6 / cycles, "latency_ms": cycles / (clock_mhz * 1e3),
            "weight_bits": sum(p.weight_bits for p in perfs)}
