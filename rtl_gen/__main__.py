"""``python -m rtl_gen build MODEL`` / ``sim BUILD`` / ``synth BUILD``: the generator's command
line."""

from __future__ import annotations

import sys

from n2uq_hw.errors import dispatch, run_cli


def main(argv: list[str] | None = None) -> int:
    from rtl_gen import build
    from rtl_gen.synth import cli as synth
    from sim import cli as sim

    return dispatch("python -m rtl_gen", [build.add_parser, sim.add_parser, synth.add_parser],
                    argv)


if __name__ == "__main__":
    sys.exit(run_cli(main))
