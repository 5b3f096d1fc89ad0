"""cocotb test run inside the simulator by sim/run.py: reset, start the engine, wait for
``done``. The HDL testbench (sim/testbench.py) holds the clock, the memory and the logs, so
this coroutine only sleeps while the network runs."""

from __future__ import annotations

import os

import cocotb
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer


@cocotb.test()
async def run_program(dut) -> None:
    """The engine runs the program in memory to ``done`` within the cycle budget."""
    budget = int(os.environ.get("N2UQ_MAX_CYCLES", "100000000"))
    dut.start.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    timeout = Timer(10 * budget, unit="ns")
    fired = await First(RisingEdge(dut.done), timeout)
    assert fired is not timeout, f"engine not done after {budget} cycles (layer " \
        f"{int(dut.layer.value)})"
    await ClockCycles(dut.clk, 2)  # the testbench writes its dumps at done
    assert not int(dut.overrun.value), "a vector entered the serial epilogue too soon " \
        "(the beat issuer's spacing, rtl_gen/hw/engine.py)"
