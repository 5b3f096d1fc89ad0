"""Run a compiled program on the engine top level in Amaranth's simulator (memory model
with latency and stalls) and read back every tensor it wrote."""

from __future__ import annotations

import numpy as np
import torch
from hw_sim import run_with_memory

from rtl_gen.compile.descriptor import engine_spec
from rtl_gen.compile.emit import emit
from rtl_gen.compile.perf import program_perf
from rtl_gen.compile.program import Program
from rtl_gen.generate import widths
from rtl_gen.hw.engine import Engine


def run_engine(prog: Program, x: torch.Tensor, *, latency: int = 2, stall_p: float = 0.1,
               max_cycles: int = 400_000) -> tuple[dict[str, np.ndarray], list[int]]:
    """(written tensors by name, cycle at which each layer started)."""
    g, cfg = prog.graph, prog.config
    img, pj = emit(prog, program_perf(prog))
    img.chunks.append((img.regions[g.input].offset,
                       img.tensor_bytes(g.node(g.input).type, x[0].numpy())))
    blob = img.to_bytes()
    wb = cfg.mem_bits // 8
    mem = {i // wb: int.from_bytes(blob[i:i + wb], "little") for i in range(0, len(blob), wb)}
    dut = Engine(engine_spec(prog, widths(prog), img.end // wb))
    starts: list[int] = []

    async def bench(ctx):
        ctx.set(dut.base, pj["program_base"])
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        n, last = 0, -1
        while not ctx.get(dut.done):
            layer = ctx.get(dut.layer)
            if layer != last:
                starts.append(n)
                last = layer
            await ctx.tick()
            n += 1
            assert n < max_cycles, f"engine still busy after {n} cycles (layer {layer})"
        starts.append(n)
        assert not ctx.get(dut.overrun), "a vector entered the serial epilogue too soon"

    run_with_memory(dut, dut.bus, mem, bench, data_bits=cfg.mem_bits, latency=latency,
                    stall_p=stall_p, seed=latency)
    out = bytearray(len(blob))
    for a, v in mem.items():
        if a * wb < len(out):
            out[a * wb:(a + 1) * wb] = int(v).to_bytes(wb, "little")
    got = {name: img.read_tensor(bytes(out), name, g.node(name).type)
           for layer in prog.layers for name in layer.writes}
    return got, starts
