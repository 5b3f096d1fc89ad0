"""``report.json`` / ``report.md`` of a build: per-layer shapes, MACs, predicted cycles and
utilisation, buffer needs, and the engine's component sizes."""

from __future__ import annotations

from rtl_gen.compile.perf import LayerPerf, summary
from rtl_gen.compile.program import Program, conv_dims, group_weight_bits


def report(program: Program, perfs: list[LayerPerf], prog_json: dict, widths: dict,
           lint: dict, meta: dict) -> dict:
    g, cfg = program.graph, program.config
    layers = []
    for layer, p in zip(program.layers, perfs, strict=True):
        row = {"index": layer.index, "name": layer.name, "kind": layer.kind,
               "nodes": len(layer.nodes), "output_shape": list(g.node(layer.nodes[-1]).type.shape),
               "macs": p.macs, "digit_passes": p.passes, "compute_cycles": p.compute,
               "memory_cycles": p.memory, "predicted_cycles": p.predicted,
               "ideal_cycles": p.ideal, "utilisation": p.utilisation,
               "weight_bits": p.weight_bits, "read_bits": p.in_bits, "write_bits": p.out_bits}
        if layer.kind == "conv":
            d = conv_dims(g, layer)
            row["conv"] = {k: d[k] for k in ("O", "I", "k", "s", "p", "OH", "OW")}
            row["weight_group_bits"] = group_weight_bits(d["I"], d["k"], layer.plan, cfg)
            row["acc_bits"] = layer.plan.acc_bits
        layers.append(row)
    total = summary(perfs, cfg.clock_mhz)
    buffers = {
        "weight_group_bits_max": max((r.get("weight_group_bits", 0) for r in layers), default=0),
        "wbuf_bits": program.wbuf_bits, "abuf_bits": cfg.abuf_bits,
    }
    return {"model": g.model, "engine": cfg.to_json(), "widths": widths, "summary": total,
            "buffers": buffers, "memory_bytes": prog_json["memory_bytes"], "layers": layers,
            "lint": lint, "source": meta}


def _fmt(v: float) -> str:
    return f"{v:,.0f}"


def markdown(rep: dict) -> str:
    s, e = rep["summary"], rep["engine"]
    lines = [
        f"# Build report: {rep['model']}", "",
        (f"Engine: target `{e['target']}`, PE {e['pe']} x SIMD {e['simd']}, "
        f"{e['a_bits']}-bit x {e['w_bits']}-bit MACs, {e['mem_bits']}-bit memory port, "
        f"clock {e['clock_mhz']} MHz (the target's clock goal, which the frame rate below "
         "assumes; `python -m rtl_gen synth` measures the routed Fmax)."), "",
        f"Weights and calibration: {rep['source'].get('weights_from', '?')}.", "",
        "| total | value |", "| --- | --- |",
        f"| MACs | {_fmt(s['macs'])} |",
        f"| predicted cycles | {_fmt(s['cycles'])} |",
        f"| ideal cycles (array busy) | {_fmt(s['ideal_cycles'])} |",
        f"| MAC-array utilisation | {100 * s['utilisation']:.1f}% |",
        f"| frames per second at {s['clock_mhz']} MHz | {s['fps']:.1f} |",
        f"| weight stream | {s['weight_bits'] / 8e6:.2f} MB |",
        f"| memory image | {rep['memory_bytes'] / 1e6:.2f} MB |",
        (f"| largest weight group / weight buffer | {_fmt(rep['buffers']['weight_group_bits_max'])}"
        f" / {_fmt(rep['buffers']['wbuf_bits'])} bits |"),
        f"| Verilog lint | {rep['lint'].get('status', '?')} |", "",
        "| # | layer | kind | output | MACs | passes | predicted cycles | utilisation |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rep["layers"]:
        lines.append(f"| {r['index']} | {r['name']} | {r['kind']} | "
                     f"{'x'.join(map(str, r['output_shape']))} | {_fmt(r['macs'])} | "
                     f"{r['digit_passes']} | {_fmt(r['predicted_cycles'])} | "
                     f"{100 * r['utilisation']:.1f}% |")
    w = rep["widths"]
    lines += ["", "Datapath widths (worst case over layers): "
              + ", ".join(f"{k} {v}" for k, v in w.items()), ""]
    return "\n".join(lines)
