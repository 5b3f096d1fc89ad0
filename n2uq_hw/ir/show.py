"""Per-layer table of an IR graph (``python -m n2uq_hw.ir show PATH``).

Columns: name, op, inputs, output kind/bits/frac, shape, MACs, parameter bits, accumulator
width. Definitions (per sample):

- MACs: conv2d ``O * H_out * W_out * I * k * k``; linear ``O * I``; every other op 0.
- Parameter bits, what the hardware stores for the node:
  conv2d/linear ``weights * weight_bits`` plus ``I * (input bits + 1)`` for a zero_point;
  threshold ``(pos + neg + breakpoint entries) * (input bits + 1)`` (a threshold lies in
  ``[min(v), max(v) + 1]``, one bit wider than ``v``); requant ``C * (width(multiplier) +
  width(bias))``; rprelu ``C * (width(bias1) + width(slope) + width(bias2))``, where
  ``width(a)`` is the smallest two's-complement width holding every entry of ``a``;
  other ops 0.
- Accumulator width: the output bits of the nodes that accumulate (conv2d, linear,
  avgpool_sum); ``-`` for the others.

The total line sums MACs and parameter bits (also given in bytes, rounded up).
"""

from __future__ import annotations

import numpy as np

from n2uq_hw.ir.graph import Graph, Node

__all__ = ["format_table", "layer_stats", "signed_width"]

_ACC_OPS = ("conv2d", "linear", "avgpool_sum")


def signed_width(a: np.ndarray) -> int:
    """Smallest two's-complement width (>= 1) that holds every entry of integer array ``a``."""
    if a.size == 0:
        return 1
    mn, mx = int(a.min()), int(a.max())
    return max(max(mx, 0).bit_length(), max(-mn - 1, 0).bit_length()) + 1


def layer_stats(graph: Graph, node: Node) -> tuple[int, int, int | None]:
    """``(MACs, parameter bits, accumulator width or None)`` of one node (see module doc)."""
    ins = [graph.node(n).type for n in node.inputs]
    a = node.arrays
    macs = params = 0
    if node.op in ("conv2d", "linear"):
        w = a["weight"]
        if node.op == "conv2d":
            _, oh, ow = node.type.shape
            macs = int(w.size) * oh * ow
        else:
            macs = int(w.size)
        params = int(w.size) * int(node.attrs["weight_bits"])
        if "zero_point" in a:
            params += int(a["zero_point"].size) * (ins[0].bits + 1)
    elif node.op == "threshold":
        entries = sum(int(a[k].size) for k in ("pos", "neg", "breakpoint") if k in a)
        params = entries * (ins[0].bits + 1)
    elif node.op in ("requant", "rprelu"):
        keys = ("multiplier", "bias") if node.op == "requant" else ("bias1", "slope", "bias2")
        params = node.type.shape[0] * sum(signed_width(a[k]) for k in keys)
    acc = node.type.bits if node.op in _ACC_OPS else None
    return macs, params, acc


def format_table(graph: Graph) -> str:
    """The per-layer table and total line as text."""
    head = ("name", "op", "inputs", "kind", "bits", "frac", "shape", "MACs", "param_bits",
            "acc_bits")
    rows = []
    total_macs = total_params = 0
    for node in graph.nodes:
        macs, params, acc = layer_stats(graph, node)
        total_macs += macs
        total_params += params
        t = node.type
        rows.append((node.name, node.op, ",".join(node.inputs) or "-", t.kind, str(t.bits),
                     str(t.frac), "x".join(str(d) for d in t.shape), str(macs), str(params),
                     "-" if acc is None else str(acc)))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    right = {4, 5, 7, 8, 9}

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    title = (f"model {graph.model}: {len(graph.nodes)} nodes, input {graph.input}, "
             f"output {graph.output}")
    out = [title, line(head), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    out.append(f"total: {total_macs} MACs, {total_params} parameter bits "
               f"({(total_params + 7) // 8} bytes)")
    return "\n".join(out)
