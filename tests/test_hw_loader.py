"""DescriptorRegs: after ``start``, slot ``i`` of the burst lands in field ``i`` (one cycle
after it is offered: the module registers the slot), gaps between slots and slots outside
a burst change nothing."""

from types import SimpleNamespace

import pytest
from amaranth.hdl import Signal
from hw_sim import run_sim

from rtl_gen.hw.loader import DescriptorRegs

FIELDS = ["a", "b", "c"]


def test_descriptor_slots_land_in_order():
    desc = SimpleNamespace(**{f: Signal(32, name=f"d_{f}", reset_less=True) for f in FIELDS})
    dut = DescriptorRegs(desc, FIELDS)
    got = {}

    async def bench(ctx):
        ctx.set(dut.slot, 999)
        ctx.set(dut.slot_ok, 1)  # a slot before the burst (a header): no field
        await ctx.tick()
        ctx.set(dut.slot_ok, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for i, v in enumerate([11, 22, 33]):
            for _ in range(i):  # gaps between slots
                await ctx.tick()
            ctx.set(dut.slot, v)
            ctx.set(dut.slot_ok, 1)
            await ctx.tick()
            ctx.set(dut.slot_ok, 0)
        ctx.set(dut.slot, 44)
        ctx.set(dut.slot_ok, 1)  # past the last field: nothing
        await ctx.tick()
        ctx.set(dut.slot_ok, 0)
        await ctx.tick().repeat(2)
        got.update({f: ctx.get(getattr(desc, f)) for f in FIELDS})

    run_sim(dut, bench)
    assert got == {"a": 11, "b": 22, "c": 33}


def test_descriptor_regs_need_a_field():
    with pytest.raises(ValueError, match="at least one field"):
        DescriptorRegs(SimpleNamespace(), [])
