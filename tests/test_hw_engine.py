"""The engine top level runs whole compiled programs bit exact: every tensor a layer writes
equals the engine model's (itself equal to the reference executor), in Amaranth's simulator
with a memory of random stalls."""

import numpy as np
import pytest
import torch
from engine_sim import run_engine
from ir_fixtures import small_graph

from rtl_gen.compile.program import compile_layers
from rtl_gen.config import EngineConfig
from rtl_gen.engine_model import run_program


def _mismatches(prog, got, env) -> list[str]:
    bad = []
    for name, v in got.items():
        want = env[name][0].numpy()
        if not np.array_equal(v, want):
            i = tuple(np.argwhere(v != want)[0])
            bad.append(f"{name}{list(i)}: got {v[i]}, want {want[i]}")
    return bad


@pytest.mark.parametrize(("seed", "pe", "simd", "mem_bits", "latency", "stall_p", "epi"), [
    # image stem (per-channel pads), residual add, pools, FC; a one-lane serial epilogue
    (0, 4, 8, 64, 2, 0.1, None),
    (1, 8, 8, 32, 3, 0.3, None),  # two words per slot, heavier stalls
    # wider SIMD than channels: lane-filling chunks everywhere; a PE-wide epilogue
    (2, 4, 16, 64, 1, 0.0, 4),
])
def test_engine_runs_the_small_cnn_bit_exact(seed, pe, simd, mem_bits, latency, stall_p, epi):
    graph = small_graph(seed)
    prog = compile_layers(graph, EngineConfig(pe=pe, simd=simd, mem_bits=mem_bits,
                                              epi_lanes=epi))
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (1, 3, 8, 8))).to(
        torch.uint8)
    got, starts = run_engine(prog, x, latency=latency, stall_p=stall_p)
    env = run_program(prog, x)
    assert set(got) == {n for la in prog.layers for n in la.writes}
    assert _mismatches(prog, got, env) == []
    assert len(starts) == len(prog.layers) + 1
