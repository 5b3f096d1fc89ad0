"""Compiled program -> memory image + ``program.json`` (the layer program).

``program.json`` lists, per layer, its loop bounds, operand plan, epilogue constants and
the byte offsets of everything it reads and writes in the memory image (rtl_gen/compile/
image.py). It is what the controller executes and what the performance model predicts.
"""

from __future__ import annotations

import math

import numpy as np

from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import Graph, Node
from rtl_gen.compile.chunks import chunks, lane_index
from rtl_gen.compile.descriptor import (
    EngineSpec,
    chunk_slots,
    engine_spec,
    epilogue_consts,
    layer_fields,
    pack_slots,
    param_fields,
    param_table,
    union_spec,
)
from rtl_gen.compile.image import MemoryImage, pack, row_words
from rtl_gen.compile.perf import LayerPerf
from rtl_gen.compile.program import Program, conv_dims
from rtl_gen.generate import value_bits, widths


def hw_breakpoint(graph: Graph, node: Node) -> np.ndarray:
    """A two-sided threshold's breakpoints within the input's range: the IR's ``-2^62``
    (monotone channel) becomes ``min(v)``, which every value reaches; the comparator then
    needs only the input width plus one bit."""
    return np.maximum(node.arrays["breakpoint"], graph.node(node.inputs[0]).type.min)


def hw_thresholds(node: Node, value_bits: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``pos`` (and ``neg``) clamped to what a ``value_bits`` comparator can meet: a value of
    that width never reaches ``pos > 2^(vb-1) - 1`` nor stays below ``neg < -2^(vb-1)``, so
    clamping to ``[-2^(vb-1), 2^(vb-1)]`` / ``[-2^(vb-1) - 1, 2^(vb-1) - 1]`` keeps every code
    (the IR may declare an accumulator wider than the engine's exact one)."""
    lim = 1 << (value_bits - 1)
    pos = np.clip(node.arrays["pos"], -lim, lim)
    neg = node.arrays.get("neg")
    return pos, None if neg is None else np.clip(neg, -lim - 1, lim - 1)


def _epilogue_attrs(graph: Graph, node: Node, chain: list[str] | None = None) -> dict:
    t = node.type
    d: dict = {"node": node.name, "op": node.op}
    if node.op == "add" and chain:  # which input is the chain's value (the other is read);
        # an add that starts its layer reads both, the first as the chain value
        before = chain[: chain.index(node.name)]
        d["chain_operand"] = next((i for i, n in enumerate(node.inputs) if n in before), 0)
    if t.kind == "fixed":
        d.update(lo=-(2 ** (t.bits - 1)), hi=2 ** (t.bits - 1) - 1)
    for k in ("shift", "bits", "frac", "shift_a", "shift_b", "slope_frac", "kernel", "stride",
              "padding"):
        if k in node.attrs:
            d[k] = int(node.attrs[k])
    d["inputs"] = list(node.inputs)
    return d


def weight_blocks(plan, dims: dict, pe: int, simd: int, w_bits: int) -> np.ndarray:
    """The weight digit blocks in stream order ``[group, chunk, digit e, PE, SIMD]``
    (rtl_gen/compile/chunks.py lane order; idle lanes and channels beyond O are 0)."""
    o, i, k = dims["O"], dims["I"], dims["k"]
    flat = plan.wu.reshape(o, -1)  # (ci, ky, kx) order
    chs = chunks(i, k, simd)
    g = math.ceil(o / pe)
    wpad = np.zeros((g * pe, flat.shape[1] + 1), np.int64)  # last column: idle lanes
    wpad[:o, :-1] = flat
    idx = np.stack([lane_index(c, i, k, simd) for c in chs])  # [chunks, simd]
    lanes = wpad[:, idx]  # [g*pe, chunks, simd]
    lanes = lanes.reshape(g, pe, len(chs), simd).transpose(0, 2, 1, 3)  # [g, chunk, pe, simd]
    return np.stack([(lanes >> (w_bits * e)) & (2**w_bits - 1)
                     for e in range(plan.w_digits)], 2)


def emit(program: Program, perfs: list[LayerPerf], *, descriptors: bool = True,
         spec: EngineSpec | None = None) -> tuple[MemoryImage, dict]:
    """Lay out the memory image and describe every layer; returns (image, program JSON).

    The image holds the tensors, then per layer its weight stream, parameter table and
    chunk table, then the engine header and layer descriptors (rtl_gen/compile/
    descriptor.py); ``program.json`` records where everything is. With ``spec`` the program
    is laid out for that (wider, shared) engine instead of its own (:func:`union_spec`)."""
    g, cfg = program.graph, program.config
    w = widths(program) if spec is None else spec.w
    vbits = value_bits(w)
    fields = param_fields(2 ** w["code"] - 1, bool(w["two_sided"]))
    img = MemoryImage(cfg.mem_bits)
    img.alloc_tensor(g.input, g.node(g.input).type)
    for layer in program.layers:
        for name in layer.writes:
            img.alloc_tensor(name, g.node(name).type)
    layers_json = []
    for layer, perf in zip(program.layers, perfs, strict=True):
        head = g.node(layer.nodes[0])
        entry: dict = {"index": layer.index, "kind": layer.kind, "nodes": layer.nodes,
                       "reads": {n: img.regions[n].offset for n in layer.reads},
                       "writes": {n: img.regions[n].offset for n in layer.writes},
                       "predicted_cycles": perf.predicted}
        epi = layer.nodes
        if layer.kind == "conv":
            dims, plan = conv_dims(g, layer), layer.plan
            blocks = weight_blocks(plan, dims, cfg.pe, cfg.simd, cfg.w_bits)
            rows = blocks.reshape(-1, cfg.pe * cfg.simd)
            nblocks = rows.shape[0]
            words = row_words(cfg.pe * cfg.simd, cfg.w_bits, cfg.mem_bits)
            r = img.alloc(f"{layer.name}.weights", "weights", nblocks * words * img.word_bytes,
                          pack(rows, cfg.w_bits, words, cfg.mem_bits), blocks=nblocks)
            entry["conv"] = {**dims, "x_digits": plan.x_digits, "w_digits": plan.w_digits,
                             "x_bits": plan.x_bits, "ox": [int(v) for v in plan.ox],
                             "ow": plan.ow,
                             "w_scale_log2": plan.w_scale_log2, "input_shift": plan.input_shift,
                             "in_offset": plan.in_offset,
                             "acc_bits": plan.acc_bits,
                             "weights": r.offset, "weight_blocks": nblocks,
                             "chunks": [[c.t0, c.n]
                                        for c in chunks(dims["I"], dims["k"], cfg.simd)]}
            epi = layer.nodes[1:]
        elif head.op in ("maxpool", "avgpool_sum"):
            entry["pool"] = _epilogue_attrs(g, head)
            epi = layer.nodes[1:]
        entry["epilogue"] = [_epilogue_attrs(g, g.node(n), layer.nodes) for n in epi]
        table = param_table(program, layer, fields, vbits, 2 ** w["code"] - 1)
        r = img.alloc(f"{layer.name}.params", "params", table.size * 8,
                      pack_slots(table.reshape(-1).tolist(), cfg.mem_bits), fields=fields)
        entry["params"] = r.offset
        cs = chunk_slots(program, layer)
        img.alloc(f"{layer.name}.chunks", "chunks", len(cs) * 8, pack_slots(cs, cfg.mem_bits))
        layers_json.append(entry)
    prog = {"format": "n2uq-hw-program", "version": 2, "model": g.model,
            "engine": cfg.to_json(), "input": g.input, "output": g.output,
            "param_fields": fields, "layers": layers_json}
    if descriptors:
        _descriptors(program, img, prog, w, spec)
    prog["memory_bytes"] = img.end
    prog["regions"] = {n: {"kind": r.kind, "offset": r.offset, "size": r.size, **r.info}
                       for n, r in img.regions.items()}
    return img, prog


def _descriptors(program: Program, img: MemoryImage, prog: dict, w: dict,
                 shared: EngineSpec | None) -> None:
    """The engine header and layer descriptors, last in the image (their size depends on
    the engine's writers)."""
    cfg = program.config
    own = engine_spec(program, w, img.end // img.word_bytes)
    nd = len((shared or own).desc_fields)
    hdr = img.alloc("engine.program", "descriptors", (1 + nd * len(program.layers)) * 8)
    spec = engine_spec(program, w, img.end // img.word_bytes)
    if shared is not None:
        if union_spec([shared, spec]) != shared or spec.addr_bits > shared.addr_bits:
            fail(f"program {program.graph.model} does not fit the shared engine")
        spec = shared
    slots = [len(program.layers)]
    for layer, entry in zip(program.layers, prog["layers"], strict=True):
        f = layer_fields(program, layer, img, spec, epilogue_consts(program, layer, w["fixed"]))
        slots += [f[k] for k in spec.desc_fields]
        entry["descriptor"] = f
    img.chunks.append((hdr.offset, pack_slots(slots, cfg.mem_bits)))
    prog["program_base"] = hdr.offset // img.word_bytes
    prog["descriptor_fields"] = spec.desc_fields
