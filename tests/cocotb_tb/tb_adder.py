"""cocotb testbench for the registered 8-bit adder of ``tests/test_toolchain.py``.

Run by ``cocotb_tools.runner`` inside the simulator, never collected by pytest.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge


class AdderTB:
    """Clock, reset and a one-cycle-latency checker for the adder."""

    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self) -> None:
        self.dut.a.value = 0
        self.dut.b.value = 0
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def add(self, a: int, b: int) -> int:
        """Drive ``a`` and ``b`` away from the clock edge, return ``sum`` one edge later."""
        await FallingEdge(self.dut.clk)
        self.dut.a.value = a
        self.dut.b.value = b
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        return int(self.dut.sum.value)


@cocotb.test()
async def random_sums(dut) -> None:
    """Registered sums of random operands (and the corner cases) are exact, 9 bits wide."""
    tb = AdderTB(dut)
    await tb.reset()
    assert int(dut.sum.value) == 0, "sum must be 0 after reset"
    rng = random.Random(cocotb.RANDOM_SEED)
    cases = [(0, 0), (255, 255), (255, 1), (128, 128)]
    cases += [(rng.randrange(256), rng.randrange(256)) for _ in range(32)]
    for a, b in cases:
        got = await tb.add(a, b)
        assert got == a + b, f"{a} + {b}: got {got}"
