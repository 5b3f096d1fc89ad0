"""``python -m n2uq_hw.ir show PATH``: load, validate and summarise an IR folder."""

from __future__ import annotations

import argparse
import sys


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
    return p


def main(argv: list[str] | None = None) -> int:
    from n2uq_hw.ir.graph import load_ir
    from n2uq_hw.ir.show import format_table

    args = parser().parse_args(argv)
    if args.command == "show":
        print(format_table(load_ir(args.path)))
    return 0


if __name__ == "__main__":
    from n2uq_hw.errors import run_cli

    sys.exit(run_cli(main))
