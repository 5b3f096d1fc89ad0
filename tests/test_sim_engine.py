"""End to end through cocotb + Verilator: the generated engine runs whole lowered networks,
every layer kind of ResNet-18 at reduced size and 20 seeded random layer configurations
bit exact against the reference executor, and its per-layer cycles agree with the
performance model within 5%. One engine, sized for all of these programs together
(rtl_gen/compile/descriptor.py ``union_spec``), is compiled once."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from ir_fixtures import Builder
from test_lower import perturbed, smooth_images

from models import build_model
from n2uq_hw.lower import calibrate_bn, lower_model
from n2uq_hw.lower.lowering import CIFAR_NORM, IMAGENET_NORM, normalise
from n2uq_hw.reference import run_ir
from rtl_gen.compile.descriptor import engine_spec, union_spec
from rtl_gen.compile.emit import emit
from rtl_gen.compile.perf import program_perf
from rtl_gen.compile.program import compile_layers
from rtl_gen.config import EngineConfig
from rtl_gen.generate import to_verilog, widths
from rtl_gen.hw.engine import Engine
from sim.compare import compare

pytestmark = pytest.mark.slow

CFG = EngineConfig(pe=8, simd=16, mem_bits=64, abuf_bits=1 << 16)


def random_layer_graph(seed: int):
    """A quantized input (int8 conv, requant, threshold), then the layer under test: an
    odd-weight conv of random channels, kernel, stride, padding and bit width with
    requant (random-sign multipliers: negative BN scales), an optional residual add,
    RPReLU (slopes of both signs) and one- or two-sided thresholds."""
    rng = np.random.default_rng(1000 + seed)
    b = Builder(seed)
    h = int(rng.integers(5, 11))
    x = b.input("in", h, h)
    c1 = int(rng.integers(3, 21))
    bits = int(rng.integers(2, 5))
    x = b.conv("c0", x, c1, k=3, s=1, p=1, zero_point=True)
    r0 = b.requant("r0", x, bits=12, frac=6)
    a = b.threshold("q0", r0, bits=bits, two_sided=bool(rng.integers(0, 2)))
    k = int(rng.choice([1, 3, 5]))
    residual = bool(rng.integers(0, 2))
    if residual:
        s, p, co = 1, k // 2, c1
    else:
        s, p, co = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1)), int(
            rng.integers(2, 25))
    y = b.conv("c1", a, co, k=k, s=s, p=p, fmt="odd", wbits=int(rng.integers(2, 5)))
    y = b.requant("r1", y, bits=12, frac=6)
    if residual:
        y = b.add("a1", y, r0, bits=13, frac=6)
    y = b.rprelu("p1", y, bits=13)
    b.threshold("q1", y, bits=bits, two_sided=bool(rng.integers(0, 2)))
    return b.graph(model=f"random{seed}")


def _imagenet_small(name: str, size: int, seed: int):
    torch.manual_seed(seed)
    model = build_model(name)
    calib = smooth_images(2, size, seed)
    calibrate_bn(model, normalise(calib, *IMAGENET_NORM), batches=1)
    return lower_model(model, calib, mean=IMAGENET_NORM[0], std=IMAGENET_NORM[1]).graph


def _cifar(name: str, seed: int):
    res = lower_model(perturbed(name, seed), smooth_images(8, 32, seed), mean=CIFAR_NORM[0],
                      std=CIFAR_NORM[1])
    return res.graph


def _programs() -> dict:
    graphs = {f"random{s}": random_layer_graph(s) for s in range(20)}
    for i, name in enumerate(("smallcnn_w2a2", "smallcnn_w3a3", "smallcnn_w4a4",
                              "resnet20_w2a2")):
        graphs[name] = _cifar(name, i)
    graphs["resnet18_w2a2@16"] = _imagenet_small("resnet18_w2a2", 16, 5)
    return {k: compile_layers(g, CFG) for k, g in graphs.items()}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """(programs, shared engine spec, compiled Verilator model)."""
    from sim.run import EngineSim

    progs = _programs()
    images = {k: emit(p, program_perf(p))[0] for k, p in progs.items()}
    spec = union_spec([engine_spec(p, widths(p), images[k].end // 8)
                       for k, p in progs.items()])
    # the shared engine's wider parameter tables make every image a little larger; its MAC
    # array on ECP5 carry cells (simulated through rtl_gen/hw/and_sums.py's CCU2C model;
    # the Icarus test below runs the generic array)
    spec = dataclasses.replace(spec, addr_bits=spec.addr_bits + 1, cells="ecp5")
    words = max(emit(p, program_perf(p), spec=spec)[0].end for p in progs.values()) // 8 + 8
    work = tmp_path_factory.mktemp("engine_sim")
    (work / "engine.v").write_text(to_verilog("engine", Engine(spec)))
    es = EngineSim(work / "engine.v", work / "sim", addr_bits=spec.addr_bits,
                   mem_bits=CFG.mem_bits, words=words, latency=3)
    return progs, spec, es


_RUNS: dict = {}


def _run(bench, name: str, seed: int, stall: int = 40):
    """:func:`_simulate` on the shared engine, once per (program, seed, stall): the
    bit-exact and the cycle tests of resnet20 share one run."""
    key = (name, seed, stall)
    if key not in _RUNS:
        progs, spec, es = bench
        _RUNS[key] = _simulate(es, progs[name], spec, seed, stall, name.replace("@", "_"))
    return _RUNS[key]


def _simulate(es, prog, spec, seed: int, stall: int, tag: str):
    """Run ``prog`` on the simulated engine ``es`` (generated for ``spec``) with a seeded
    input; (comparison with the reference executor, per-layer cycle deviation from the
    model, index of the worst layer)."""
    g = prog.graph
    perfs = program_perf(prog, spec)
    img, pj = emit(prog, perfs, spec=spec)
    c, h, w = g.node(g.input).type.shape
    x = torch.randint(0, 256, (1, c, h, w), generator=torch.Generator().manual_seed(seed),
                      dtype=torch.uint8)
    img.chunks.append((img.regions[g.input].offset,
                       img.tensor_bytes(g.node(g.input).type, x[0].numpy())))
    res = es.run(img.to_bytes(), pj["program_base"], stall=stall, tag=f"{tag}_s{stall}")
    gold = run_ir(g, x)
    results = [(la.index, n, gold[n][0].numpy(), img.read_tensor(res.memory, n, g.node(n).type))
               for la in prog.layers for n in la.writes]
    cmp = compare(results)
    assert cmp.mismatches == 0, "\n".join(str(m) for m in cmp.first)
    cycles = np.diff(res.starts)
    pred = np.array([p.predicted for p in perfs])
    dev = cycles / pred - 1
    worst = int(np.argmax(np.abs(dev)))
    return cmp, dev, worst


@pytest.mark.parametrize(("name", "stall"), [
    ("smallcnn_w2a2", 40), ("smallcnn_w3a3", 40), ("smallcnn_w4a4", 40),
    ("resnet20_w2a2", 0),  # the same run as its cycle test (a stalling memory: all others)
    ("resnet18_w2a2@16", 40)])
def test_lowered_networks_run_bit_exact(bench, name, stall):
    cmp, _, _ = _run(bench, name, seed=7, stall=stall)
    assert cmp.elements > 0


@pytest.mark.parametrize("name", ["smallcnn_w2a2", "resnet20_w2a2"])
def test_cycles_per_layer_agree_with_the_performance_model(bench, name):
    """On a memory without stalls (the model's assumption) every layer's simulated cycles
    are within 5% of the prediction."""
    _, dev, worst = _run(bench, name, seed=7, stall=0)
    assert abs(dev[worst]) <= 0.05, (
        f"{name} layer {worst}: simulated cycles {100 * dev[worst]:+.1f}% from the "
        "performance model (more than 5%)")


def test_resnet18_layer_kinds_are_all_covered(bench):
    progs, _, _ = bench
    g = progs["resnet18_w2a2@16"].graph
    convs = {(int(n.attrs["kernel"]), int(n.attrs["stride"])) for n in g.nodes
             if n.op == "conv2d"}
    assert {(7, 2), (3, 1), (3, 2), (1, 2)} <= convs
    assert {"maxpool", "add", "avgpool_sum", "linear"} <= {n.op for n in g.nodes}


@pytest.mark.parametrize("seed", range(20))
def test_random_layer_configurations_run_bit_exact(bench, seed):
    cmp, _, _ = _run(bench, f"random{seed}", seed)
    assert cmp.mismatches == 0



@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed "
                    "(scripts/setup.sh --apt)")
def test_icarus_runs_a_random_layer_bit_exact(tmp_path):
    """A second opinion on the generated Verilog: Icarus Verilog (4-state, event driven)
    runs a small engine through an image stem with per-channel zero points, a 3 x 3 conv
    with a residual add, RPReLU and 4-bit thresholds on a stalling memory, bit exact (about
    2,800 cycles: Icarus simulates a few hundred cycles a second)."""
    from sim.run import EngineSim

    prog = compile_layers(random_layer_graph(7), EngineConfig(pe=4, simd=8, mem_bits=64,
                                                              abuf_bits=1 << 14))
    img, _ = emit(prog, program_perf(prog))
    spec = engine_spec(prog, widths(prog), img.end // 8)
    (tmp_path / "engine.v").write_text(to_verilog("engine", Engine(spec)))
    es = EngineSim(tmp_path / "engine.v", tmp_path / "sim", addr_bits=spec.addr_bits,
                   mem_bits=64, words=img.end // 8 + 8, latency=2, simulator="icarus")
    cmp, _, _ = _simulate(es, prog, spec, seed=3, stall=40, tag="icarus")
    assert cmp.elements > 0
