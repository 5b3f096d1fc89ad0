"""``python -m rtl_gen build MODEL``: the generator's command line."""

from __future__ import annotations

import argparse
import sys

from n2uq_hw.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    from rtl_gen import build

    p = argparse.ArgumentParser(prog="python -m rtl_gen")
    sub = p.add_subparsers(dest="command", required=True)
    build.add_parser(sub)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
