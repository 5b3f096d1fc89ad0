"""User-facing errors: one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class N2UQError(Exception):
    """An error caused by the user's input (model name, data, checkpoint, flags).

    Command-line entry points print ``error: <message>`` on one line and exit with
    status 2 instead of showing a traceback.
    """


def fail(message: str) -> NoReturn:
    """Raise an :class:`N2UQError` with ``message``."""
    raise N2UQError(message)


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a command's ``main``; turn user errors into one line on stderr and exit code 2."""
    try:
        return int(main(argv) or 0)
    except N2UQError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def dispatch(prog: str, add_parsers: list[Callable], argv: list[str] | None) -> int:
    """Parse ``argv`` for a ``prog COMMAND`` tool whose commands register themselves through
    ``add_parsers`` (each ``add_parser(subparsers)``), then run the chosen command."""
    import argparse

    p = argparse.ArgumentParser(prog=prog)
    sub = p.add_subparsers(dest="command", required=True)
    for add in add_parsers:
        add(sub)
    args = p.parse_args(argv)
    return args.func(args)
