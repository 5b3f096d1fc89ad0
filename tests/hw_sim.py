"""Helpers for Amaranth-simulator component tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from amaranth.sim import Simulator


def run_sim(dut, bench: Callable[..., Awaitable[None]], *, vcd: str | None = None) -> None:
    """Run an async testbench ``bench(ctx)`` on ``dut`` with a 1 MHz sync clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def _set(ctx, port, value) -> None:
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _set(ctx, port[i], v)
    else:
        ctx.set(port, int(value))


def _get(ctx, port, shape):
    if isinstance(shape, tuple) and shape:
        return [_get(ctx, port[i], shape[1:]) for i in range(shape[0])]
    return ctx.get(port)


def stream(dut, beats: list[dict], consts: dict, outputs: dict[str, tuple],
           latency: int) -> list[dict]:
    """Drive one beat per cycle (``valid`` high), ``consts`` held throughout; collect the
    ``outputs`` (name -> array shape, ``()`` for a scalar) of every ``out_valid`` cycle."""
    got: list[dict] = []

    async def bench(ctx):
        for name, v in consts.items():
            _set(ctx, getattr(dut, name), v)
        for t in range(len(beats) + latency + 1):
            if t < len(beats):
                ctx.set(dut.valid, 1)
                for name, v in beats[t].items():
                    _set(ctx, getattr(dut, name), v)
            else:
                ctx.set(dut.valid, 0)
            if ctx.get(dut.out_valid):
                got.append({n: _get(ctx, getattr(dut, n), s) for n, s in outputs.items()})
            await ctx.tick()

    run_sim(dut, bench)
    return got
