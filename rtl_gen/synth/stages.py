"""ECP5 synthesis in several Yosys processes, so that ABC's memory is given back.

YoWASP's Yosys is one WebAssembly process with at most 4 GiB of memory, and it runs ABC
inside that process (a WebAssembly program cannot start another). Each ``abc9`` call on a
module keeps about 13 MB that is never freed, so a netlist of many modules runs out: the
16 x 32 resnet18 engine (520 modules, its duplicated registers kept apart in modules of
their own) stopped with "thrown Wasm exception" after 246 of them; measured, the process
held 2.24 GB after 83 (docs/SYNTH.md). The flow therefore runs:

1. front: read the sources, ``synth_ecp5 -run :map_luts``, ``splitnets`` (runner.py says
   why), write the design as RTLIL;
2. LUT mapping in batches of at most ``batch`` modules, each in a fresh process: read the
   RTLIL (the cell library first, so parametrised cells can still be derived), mark every
   other module a blackbox so ``abc9`` leaves it alone, run ``synth_ecp5 -run
   map_luts:map_cells``, unmark them, write the RTLIL back;
3. back: ``synth_ecp5 -run map_cells:``, statistics and the JSON netlist.

Each module is mapped once, by the same commands as in one process. The cell counts are
those of one process (``tests/test_rtl_synth_stages.py``), except that a few LUT-RAM
queues map to one LUT4 fewer when other modules are blackboxes (the 4 x 8 fetch unit at
10 modules a batch: 3 of 43 modules, 3 of 3,145 LUT4; the cause is not known). One batch
(a design of at most ``batch`` modules) gives exactly the one-process netlist's counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

#: ``abc9`` calls one Yosys process makes (about 13 MB each, against 4 GiB).
BATCH = 120
#: the cell library ``synth_ecp5`` reads first (its ``begin`` step)
ECP5_LIB = "read_verilog -lib -specify +/lattice/cells_sim_ecp5.v +/lattice/cells_bb_ecp5.v"
FRONT = "front.il"
_NAME = re.compile(r"[A-Za-z0-9_.]+")
_LIB_ATTRS = ("\\blackbox", "\\whitebox", "\\cells_not_processed")


def design_modules(il: Path) -> list[str]:
    """The modules of an RTLIL file that are the design's own (not library cells)."""
    mods, attrs = [], []
    with il.open() as f:
        for line in f:
            if line.startswith("attribute "):
                attrs.append(line.split()[1])
            elif line.startswith("module "):
                if not any(a in _LIB_ATTRS for a in attrs):
                    mods.append(line.split()[1].removeprefix("\\"))
                attrs = []
            elif not line.startswith(("  ", "end")):
                attrs = []
    return mods


def batches(mods: list[str], batch: int) -> list[list[str]]:
    """``mods`` in runs of at most ``batch``; one run when a name needs quoting in a
    Yosys selection (only ``[A-Za-z0-9_.]`` names are listed)."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if not all(_NAME.fullmatch(m) for m in mods):
        return [mods]
    return [mods[i:i + batch] for i in range(0, len(mods), batch)]


def run_ecp5(synth: str, read: list[str], run: Callable[[str, str], None], cwd: Path,
             batch: int = BATCH) -> list[str]:
    """Synthesize in ``cwd`` with ``synth`` (``synth_ecp5`` and its options) after the
    ``read`` commands; ``run(script, stage)`` runs one Yosys process. Returns the scripts
    run, in order."""
    scripts = ["; ".join([*read, f"{synth} -run :map_luts", "splitnets",
                          f"write_rtlil {FRONT}"])]
    run(scripts[0], "front")
    mods = design_modules(cwd / FRONT)
    for i, group in enumerate(batches(mods, batch)):
        keep = set(group)
        rest = [m for m in mods if m not in keep]
        steps = [ECP5_LIB, f"read_rtlil -nooverwrite {FRONT}"]
        if rest:
            steps.append("setattr -mod -set blackbox 1 " + " ".join(rest))
        steps.append(f"{synth} -run map_luts:map_cells")
        if rest:  # "=": a selection reaches blackboxes only with it
            steps.append("setattr -mod -unset blackbox " + " ".join(f"={m}" for m in rest))
        steps.append(f"write_rtlil {FRONT}")
        scripts.append("; ".join(steps))
        run(scripts[-1], f"LUT mapping {i + 1}")
    scripts.append("; ".join([ECP5_LIB, f"read_rtlil -nooverwrite {FRONT}",
                              f"{synth} -run map_cells:", "tee -q -o stat.json stat -json",
                              "write_json netlist.json"]))
    run(scripts[-1], "back")
    (cwd / FRONT).unlink()
    return scripts
