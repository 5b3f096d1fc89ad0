"""Engine parameters and per-target defaults.

The engine is one layer-sequential accelerator (docs/ARCHITECTURE.md "Engine"): a PE x SIMD
array of ``a_bits`` x ``w_bits`` unsigned products, on-chip buffers, one external memory
port of ``mem_bits`` per cycle. Every value is checked here so a bad combination fails with
one line before anything is generated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from n2uq_hw.errors import fail

# target -> (pe, simd, activation buffer bits, mem_bits, clock MHz). The weight buffer is
# sized by the compiler for the network (two halves of the largest output-channel group)
# unless given. ecp5-85k: a 32 x 32 engine needs 1.65x the device's LUT4s after Yosys
# (docs/BENCHMARKS.md "Synthesis"), so its default is 16 x 32 (512 MACs).
TARGETS: dict[str, dict] = {
    "ecp5-85k": {"pe": 16, "simd": 32, "abuf_bits": 1 << 20, "mem_bits": 64,
                 "clock_mhz": 150.0},
    "ecp5-25k": {"pe": 16, "simd": 16, "abuf_bits": 1 << 18, "mem_bits": 32,
                 "clock_mhz": 100.0},
    "ice40-up5k": {"pe": 4, "simd": 8, "abuf_bits": 1 << 16, "mem_bits": 32,
                   "clock_mhz": 24.0},
    "ice40-hx8k": {"pe": 4, "simd": 16, "abuf_bits": 1 << 16, "mem_bits": 32,
                   "clock_mhz": 48.0},
    "generic": {"pe": 16, "simd": 32, "abuf_bits": 1 << 20, "mem_bits": 64,
                "clock_mhz": 100.0},
}



@dataclass(frozen=True)
class EngineConfig:
    """What the generator and compiler need to know about one engine instance."""

    target: str = "generic"
    pe: int = 16
    simd: int = 32
    a_bits: int = 2
    w_bits: int = 2
    wbuf_bits: int | None = None  # None: sized by the compiler
    abuf_bits: int = 1 << 20
    mem_bits: int = 64
    clock_mhz: float = 100.0
    epi_lanes: int | None = None  # None: default_epi_lanes(pe)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            fail(f"unknown target {self.target!r}; known: {', '.join(TARGETS)}")
        for name, lo, hi in (("pe", 1, 256), ("simd", 1, 256), ("a_bits", 1, 4),
                             ("w_bits", 1, 4)):
            v = getattr(self, name)
            if not isinstance(v, int) or not lo <= v <= hi:
                fail(f"--{name.replace('_', '-')} must be an integer in {lo}..{hi}, got {v}")
        if self.mem_bits not in (16, 32, 64, 128):
            fail(f"mem_bits must be 16, 32, 64 or 128, got {self.mem_bits}")
        if self.simd * self.a_bits > 8 * self.mem_bits:
            fail(f"SIMD {self.simd} x {self.a_bits}-bit lanes exceed what the {self.mem_bits}-bit "
                 "memory port can refill at one row per 8 beats")
        if self.epi_lanes is not None and (
                not isinstance(self.epi_lanes, int) or self.epi_lanes < 1
                or self.pe % self.epi_lanes):
            fail(f"--epi-lanes must be a divisor of PE {self.pe}, got {self.epi_lanes}")
        if self.pe * self.simd > MAX_MACS.get(self.target, 1 << 16):
            fail(f"PE x SIMD = {self.pe * self.simd} MACs do not fit {self.target} "
                 f"(at most {MAX_MACS[self.target]})")

    @classmethod
    def for_target(cls, target: str, **overrides) -> EngineConfig:
        if target not in TARGETS:
            fail(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        vals = {**TARGETS[target], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(target=target, **vals)

    @property
    def epi(self) -> int:
        """Epilogue lanes of the engine (rtl_gen/hw/datapath.py)."""
        return self.epi_lanes if self.epi_lanes is not None else default_epi_lanes(self.pe)

    def to_json(self) -> dict:
        return {**asdict(self), "epi_lanes": self.epi}


def default_epi_lanes(pe: int) -> int:
    """A quarter of the PE lanes (or a half, or all of them, for PE not divisible by 4):
    an epilogue lane costs far more than a MAC lane (requant and RPReLU multipliers, two
    comparator banks) and a pixel takes at least 4 beats on all but the first 1 x 1
    downsample layer of the ResNets, so the serial epilogue keeps up (docs/ARCHITECTURE.md
    "Serial epilogue")."""
    groups = 4 if pe % 4 == 0 else 2 if pe % 2 == 0 else 1
    return pe // groups


# rough upper bounds on the array size each device can hold (about 8 LUT4 per W2A2 MAC
# plus the rest of the engine); synthesis (--fit, issue 6) refines them
MAX_MACS = {"ecp5-85k": 4096, "ecp5-25k": 1024, "ice40-up5k": 256, "ice40-hx8k": 512,
            "generic": 1 << 16}
