"""``python -m n2uq_hw.ir show PATH``: load, validate and summarise an IR folder.

``python -m n2uq_hw.ir export-onnx PATH -o MODEL.onnx``: write the IR as a QONNX-style ONNX
model computing the same integers (n2uq_hw/ir/onnx_export.py; needs the ``onnx`` package).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m n2uq_hw.ir",
        description="Inspect an integer IR (docs/IR.md): a folder with graph.json and arrays.npz.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = sub.add_parser(
        "show", help="validate an IR and print its per-layer table",
        description="Validate an IR and print one row per node (name, op, inputs, output "
        "kind/bits/frac, shape, MACs, parameter bits, accumulator width) and a total line. "
        "Definitions: n2uq_hw/ir/show.py.")
    show.add_argument("path", metavar="PATH", help="IR folder (or its graph.json)")
    exp = sub.add_parser(
        "export-onnx", help="write the IR as a QONNX/FINN-style ONNX model",
        description="Validate an IR and write an ONNX model (opset 13 + QONNX MultiThreshold) "
        "that computes exactly the IR's integers, in float64 tensors named after the IR "
        "nodes. Mapping and exactness limits: docs/IR.md, 'QONNX export'. Needs the 'onnx' "
        "package (pip install 'n2uq-hw[onnx]'); running the model needs qonnx.")
    exp.add_argument("path", metavar="PATH", help="IR folder (or its graph.json)")
    exp.add_argument("-o", "--out", required=True, metavar="MODEL.onnx",
                     help="ONNX file to write (its folder is created)")
    exp.add_argument("--batch", type=int, default=1,
                     help="fixed batch size of the model's input and output (default 1)")
    return p


def main(argv: list[str] | None = None) -> int:
    from n2uq_hw.ir.graph import load_ir
    from n2uq_hw.ir.show import format_table

    args = parser().parse_args(argv)
    if args.command == "show":
        print(format_table(load_ir(args.path)))
    elif args.command == "export-onnx":
        from n2uq_hw.errors import fail
        from n2uq_hw.ir.onnx_export import export_onnx

        if args.batch < 1:
            fail(f"--batch must be at least 1, got {args.batch}")
        out = Path(args.out)
        if out.is_dir():
            fail(f"{out} is a folder; give the ONNX file to write, e.g. {out / 'model.onnx'}")
        graph = load_ir(args.path)
        try:
            path = export_onnx(graph, out, batch=args.batch)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        print(f"exported {graph.model}: {len(graph.nodes)} IR nodes -> {path}")
    return 0


if __name__ == "__main__":
    from n2uq_hw.errors import run_cli

    sys.exit(run_cli(main))
