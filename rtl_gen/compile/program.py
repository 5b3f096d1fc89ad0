"""IR graph -> layer program: which IR nodes each engine pass computes.

A *layer* is one pass of the engine over a tensor: a chain of IR nodes where each consumes
the previous one, in the epilogue's fixed order ``conv2d/linear/maxpool -> requant -> add ->
rprelu -> threshold`` (any prefix may be missing: a layer may start at a vector op), ending
in up to two threshold nodes on the same value (two banks: a block output feeds both the
next block's first quantizer and its downsample quantizer). The chain
grows greedily in IR order while the next node's other inputs are already in memory, so a
residual ``add`` whose other operand is computed later is fused into the later producer
instead. ``avgpool_sum`` is a layer of its own. A layer writes every
node's output that something outside the layer reads (or the graph output).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import Graph, Node
from rtl_gen.compile.chunks import chunk_count
from rtl_gen.compile.operands import OperandPlan, plan_operands
from rtl_gen.config import EngineConfig

STAGE = {"conv2d": 0, "linear": 0, "maxpool": 0, "requant": 1, "add": 2, "rprelu": 3,
         "threshold": 4}
SUPPORTED = {*STAGE, "avgpool_sum", "input"}
ADD_SHIFT_MAX = 15  # rtl_gen/hw/add_unit.py MAX_SHIFT
MAX_THRESHOLDS = 2  # threshold banks in the epilogue: codes for two consumers of one value


@dataclass
class Layer:
    """One engine pass: ``nodes`` (IR names, chain order), what it reads and writes."""

    index: int
    kind: str  # "conv" | "vector" | "maxpool" | "avgsum"
    nodes: list[str]
    reads: list[str]  # tensors from memory: the chain's input first, then residuals
    writes: list[str]
    plan: OperandPlan | None = None
    info: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.nodes[0]


@dataclass
class Program:
    graph: Graph
    config: EngineConfig
    layers: list[Layer]
    wbuf_bits: int = 0  # weight buffer: the configured size or two halves of the largest group


def _consumers(graph: Graph) -> dict[str, list[Node]]:
    out: dict[str, list[Node]] = {n.name: [] for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            out[i].append(n)
    return out


def check_supported(graph: Graph, cfg: EngineConfig) -> None:
    """One clear error for an IR the engine cannot run, before anything is written."""
    for n in graph.nodes:
        if n.op not in SUPPORTED:
            fail(f"node {n.name}: op {n.op!r} is not supported by the engine")
        for key in ("shift_a", "shift_b"):
            if abs(int(n.attrs.get(key, 0))) > ADD_SHIFT_MAX:
                fail(f"node {n.name}: {key} = {n.attrs[key]} beyond the engine's "
                     f"+-{ADD_SHIFT_MAX}")
        if n.op == "requant" and int(n.attrs["shift"]) > 127:
            fail(f"node {n.name}: requant shift {n.attrs['shift']} beyond the engine's 127")
        if n.op == "rprelu" and int(n.attrs["slope_frac"]) > 63:
            fail(f"node {n.name}: slope_frac {n.attrs['slope_frac']} beyond the engine's 63")
        if n.op == "threshold" and n.attrs["bits"] > 8:
            fail(f"node {n.name}: {n.attrs['bits']}-bit codes are not supported (max 8)")


def group_weight_bits(cin: int, k: int, plan: OperandPlan, cfg: EngineConfig) -> int:
    """Weight-buffer bits of one output-channel group: its chunks x digits blocks."""
    return chunk_count(cin, k, cfg.simd) * plan.w_digits * cfg.pe * cfg.simd * cfg.w_bits


def _weight_buffer_need(graph: Graph, node: Node, plan: OperandPlan, cfg: EngineConfig) -> int:
    """Bits a layer needs in each half of the (double-buffered) weight buffer: one group's
    weights, or 0 for a one-pixel layer (an FC), whose weights are used once and stream."""
    x = graph.node(node.inputs[0]).type
    cin = x.shape[0] if node.op == "conv2d" else int(np.prod(x.shape))
    k = int(node.attrs.get("kernel", 1))
    pixels = int(np.prod(node.type.shape[1:])) if len(node.type.shape) > 1 else 1
    need = group_weight_bits(cin, k, plan, cfg) if pixels > 1 else 0
    if cfg.wbuf_bits is not None and need > cfg.wbuf_bits // 2:
        fail(f"layer {node.name}: one output-channel group needs {need} bits of weights, "
             f"half the weight buffer holds {cfg.wbuf_bits // 2}")
    return need


def compile_layers(graph: Graph, cfg: EngineConfig) -> Program:
    """Group ``graph`` into engine layers (see the module docstring)."""
    check_supported(graph, cfg)
    cons = _consumers(graph)
    done: set[str] = {graph.input}
    layers: list[Layer] = []
    wneed = 0
    for node in graph.nodes:
        if node.name in done:
            continue
        chain = [node]
        if node.op in STAGE:
            cur = node
            while cur.op != "threshold":
                nxt = [c for c in cons[cur.name] if c.op in STAGE
                       and STAGE[c.op] > STAGE[cur.op] and c.name not in done
                       and all(i in done or i == cur.name for i in c.inputs)]
                if not nxt:
                    break
                if nxt[0].op == "threshold":
                    chain += [c for c in nxt if c.op == "threshold"][:MAX_THRESHOLDS]
                    break
                cur = nxt[0]
                chain.append(cur)
        names = [n.name for n in chain]
        inside = set(names)
        reads = [i for n in chain for i in n.inputs if i not in inside]
        reads = list(dict.fromkeys(reads))
        writes = [n.name for n in chain
                  if n.name == graph.output or any(c.name not in inside for c in cons[n.name])]
        kind = ("conv" if node.op in ("conv2d", "linear") else
                {"maxpool": "maxpool", "avgpool_sum": "avgsum"}.get(node.op, "vector"))
        plan = None
        if kind == "conv":
            w = node.arrays["weight"]
            plan = plan_operands(node, graph.node(node.inputs[0]).type, w, cfg.a_bits,
                                 cfg.w_bits)
            wneed = max(wneed, _weight_buffer_need(graph, node, plan, cfg))
        for r in reads:
            if graph.node(r).type.bits > cfg.mem_bits:
                fail(f"layer {names[0]} reads {r}, whose {graph.node(r).type.bits}-bit elements "
                     f"are wider than the {cfg.mem_bits}-bit memory port")
        layers.append(Layer(len(layers), kind, names, reads, writes, plan))
        done |= inside
    return Program(graph, cfg, layers, cfg.wbuf_bits or 2 * wneed)


def conv_dims(graph: Graph, layer: Layer) -> dict:
    """Loop bounds of a conv layer: O, I, k, stride, padding, OH, OW, K."""
    node = graph.node(layer.nodes[0])
    x = graph.node(node.inputs[0]).type
    if node.op == "linear":
        i = int(np.prod(x.shape))
        return {"O": node.type.shape[0], "I": i, "k": 1, "s": 1, "p": 0, "H": 1, "W": 1,
                "OH": 1, "OW": 1, "K": i}
    o, oh, ow = node.type.shape
    k = int(node.attrs["kernel"])
    return {"O": o, "I": x.shape[0], "k": k, "s": int(node.attrs["stride"]),
            "p": int(node.attrs["padding"]), "H": x.shape[1], "W": x.shape[2], "OH": oh,
            "OW": ow, "K": x.shape[0] * k * k}
