"""``python -m n2uq_hw COMMAND``: ``lower`` (model -> integer IR)."""

from __future__ import annotations

import argparse
import sys

from n2uq_hw.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    from n2uq_hw.lower import cli as lower_cli

    p = argparse.ArgumentParser(prog="python -m n2uq_hw")
    sub = p.add_subparsers(dest="command", required=True)
    lower_cli.add_parser(sub)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
