"""Synthesis targets: device, package, capacities and the tool flags that select them.

Capacities are the vendors' data-sheet figures (and what nextpnr reports as available):
ECP5 LFE5U-85F / -25F (Lattice FPGA-DS-02012), iCE40 UltraPlus UP5K and iCE40 HX8K (Lattice
FPGA-DS-02008, DS1040). ``lut4`` counts 4-input LUTs (nextpnr's TRELLIS_COMB / ICESTORM_LC),
``bram`` the block RAMs (DP16KD of 18 Kbit, SB_RAM40_4K of 4 Kbit), ``dsp`` the hard
multipliers (MULT18X18D, SB_MAC16), ``pins`` the user I/O of the package that nextpnr is told.
"""

from __future__ import annotations

from dataclasses import dataclass

from n2uq_hw.errors import fail


@dataclass(frozen=True)
class Target:
    name: str
    family: str  # "ecp5" | "ice40"
    device_flag: str  # nextpnr's device option
    package: str
    lut4: int
    ff: int
    bram: int
    bram_bits: int  # bits per block RAM
    bram_max_width: int  # widest simple-dual-port configuration
    dsp: int
    pins: int
    spram: int = 0  # iCE40 UltraPlus 256-Kbit single-port RAMs

    @property
    def router(self) -> str:
        """nextpnr's router for this family: router2 on ECP5, where router1 stalled on the
        pipelined engine (docs/SYNTH.md), router1 (nextpnr's default) on iCE40."""
        return "router2" if self.family == "ecp5" else "router1"

    @property
    def placer(self) -> str:
        """nextpnr's placer for this family: static (electrostatic) on ECP5, where it routed
        the 4 x 8 engine 9-17% faster than heap on the same netlist and seeds (neither
        placer's result of an 8 x 16 engine routed; docs/BENCHMARKS.md "Session 15"); heap
        (nextpnr's default) on iCE40, not measured there."""
        return "static" if self.family == "ecp5" else "heap"

    @property
    def nextpnr(self) -> str:
        return f"yowasp-nextpnr-{self.family}"

    @property
    def yosys_synth(self) -> str:
        return f"synth_{self.family}"


TARGETS: dict[str, Target] = {
    "ecp5-85k": Target("ecp5-85k", "ecp5", "--85k", "CABGA381", lut4=83640, ff=83640,
                       bram=208, bram_bits=18432, bram_max_width=36, dsp=156, pins=197),
    "ecp5-25k": Target("ecp5-25k", "ecp5", "--25k", "CABGA256", lut4=24288, ff=24288,
                       bram=56, bram_bits=18432, bram_max_width=36, dsp=28, pins=197),
    "ice40-up5k": Target("ice40-up5k", "ice40", "--up5k", "sg48", lut4=5280, ff=5280,
                         bram=30, bram_bits=4096, bram_max_width=16, dsp=8, pins=39, spram=4),
    "ice40-hx8k": Target("ice40-hx8k", "ice40", "--hx8k", "ct256", lut4=7680, ff=7680,
                         bram=32, bram_bits=4096, bram_max_width=16, dsp=0, pins=206),
}


def target(name: str) -> Target:
    """The :class:`Target` called ``name``; one clear error for an unknown one."""
    if name not in TARGETS:
        fail(f"unknown synthesis target {name!r}; known: {', '.join(TARGETS)}")
    return TARGETS[name]
