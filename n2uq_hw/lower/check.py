"""Integer IR vs float model: per-node isolation and end-to-end agreement.

``isolated`` feeds every node the float model's own values of its inputs (as integers) and
compares its output with the float model's value of that node, so each node is checked on
its own: convolutions and thresholds on accumulators must be exact, fixed-point nodes
within their rounding, thresholds on fixed-point values exact up to that rounding.
``end_to_end`` runs the whole integer graph and compares codes and top-1 with the float
model, where differences compound from layer to layer.
"""

from __future__ import annotations

import torch

from n2uq_hw.ir.graph import Graph
from n2uq_hw.reference import float_view, run_ir, run_node


def _as_int(graph: Graph, name: str, refs: dict[str, torch.Tensor], pixels: torch.Tensor
            ) -> torch.Tensor:
    node = graph.node(name)
    t, v = node.type, refs[name]
    if t.kind == "image":
        return pixels.long()
    if t.kind == "code":
        return v.long()
    if t.kind == "fixed":
        return torch.round(v.double() * 2.0**t.frac).long()
    scale = torch.tensor(node.attrs["acc_scale"], dtype=torch.float64)
    return torch.round(v.double() / scale.view(1, -1, *([1] * (v.dim() - 2)))).long()


@torch.no_grad()
def isolated(graph: Graph, refs: dict[str, torch.Tensor], pixels: torch.Tensor,
             ties: dict[str, torch.Tensor] | None = None) -> list[dict]:
    """Per node: code agreement (code outputs; ``mismatches_beyond_ties`` counts the
    differing codes that are not float32 ties) or max error in LSB (fixed) / units (acc)."""
    rows = []
    for node in graph.nodes[1:]:
        y = run_node(node, *(_as_int(graph, i, refs, pixels) for i in node.inputs))
        row = {"node": node.name, "op": node.op, "kind": node.type.kind}
        if node.type.kind == "code":
            differ = y != refs[node.name]
            row["agreement"] = float((~differ).double().mean())
            if ties is not None:
                row["mismatches_beyond_ties"] = int((differ & ~ties[node.name]).sum())
            row["input_kind"] = graph.node(node.inputs[0]).type.kind
        else:
            err = float((float_view(graph, node.name, y) - refs[node.name].double()).abs().max())
            lsb = 2.0**-node.type.frac if node.type.kind == "fixed" else 1.0
            row["max_error_lsb"] = err / lsb
        rows.append(row)
    return rows


@torch.no_grad()
def end_to_end(graph: Graph, refs: dict[str, torch.Tensor], pixels: torch.Tensor,
               labels: torch.Tensor | None = None) -> dict:
    """Whole-graph run: per threshold node code agreement, top-1 agreement and accuracy."""
    out = run_ir(graph, pixels)
    li = float_view(graph, graph.output, out[graph.output])
    lf = refs[graph.output].double()
    res = {"images": int(pixels.shape[0]),
           "top1_agreement": float((li.argmax(1) == lf.argmax(1)).double().mean()),
           "codes": {n.name: float((out[n.name] == refs[n.name]).double().mean())
                     for n in graph.nodes if n.op == "threshold"}}
    if labels is not None:
        res["top1_float"] = float((lf.argmax(1) == labels).double().mean())
        res["top1_integer"] = float((li.argmax(1) == labels).double().mean())
    return res
