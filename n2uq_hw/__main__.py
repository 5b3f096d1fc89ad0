"""``python -m n2uq_hw COMMAND``: ``lower`` (model -> integer IR)."""

from __future__ import annotations

import sys

from n2uq_hw.errors import dispatch, run_cli


def main(argv: list[str] | None = None) -> int:
    from n2uq_hw.lower import cli as lower_cli

    return dispatch("python -m n2uq_hw", [lower_cli.add_parser], argv)


if __name__ == "__main__":
    sys.exit(run_cli(main))
