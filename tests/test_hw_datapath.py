"""Datapath (MAC array -> accumulators -> epilogue) in Amaranth's simulator, fed the
compiler's beat schedule for real layers, against the engine model's outputs."""

import math

import numpy as np
import pytest
import torch
from hw_sim import run_sim
from ir_fixtures import small_graph

from rtl_gen.compile.emit import hw_breakpoint
from rtl_gen.compile.program import compile_layers
from rtl_gen.compile.schedule import beats
from rtl_gen.config import EngineConfig
from rtl_gen.engine_model import run_layer, run_program
from rtl_gen.generate import widths
from rtl_gen.hw.datapath import Datapath


def _run_layer_on_datapath(prog, layer, env, pe, simd, epi_lanes=None):
    g, cfg = prog.graph, prog.config
    w = widths(prog)
    head = g.node(layer.nodes[0])
    nodes = [g.node(n) for n in layer.nodes[1:]]
    dut = Datapath(pe, simd, cfg.a_bits, cfg.w_bits, ow_bits=max(1, layer.plan.ow.bit_length()),
                   acc_bits=w["acc"], fixed_bits=w["fixed"], mult_bits=w["mult"],
                   bias_bits=w["bias"], param_bits=w["param"], code_bits=w["code"],
                   two_sided=True, epi_lanes=epi_lanes)
    x = env[head.inputs[0]][0].numpy()
    k, s, p = (int(head.attrs.get(a, d)) for a, d in (("kernel", 1), ("stride", 1),
                                                         ("padding", 0)))
    sched = list(beats(layer.plan, x, k, s, p, pe, simd, cfg.a_bits, cfg.w_bits))
    o = layer.plan.wu.shape[0]
    oh, ow = head.type.shape[1:] if head.op == "conv2d" else (1, 1)
    fixed_bits = w["fixed"]
    thr_nodes = [n for n in nodes if n.op == "threshold"]
    add = next((n for n in nodes if n.op == "add"), None)
    res = None
    if add is not None:
        chain_i = next(i for i, n in enumerate(add.inputs) if n in layer.nodes)
        res = env[add.inputs[1 - chain_i]][0].numpy().reshape(o, -1)
        sh = [int(add.attrs["shift_a"]), int(add.attrs["shift_b"])]
        sa, sb = sh[chain_i], sh[1 - chain_i]
    rq = next((n for n in nodes if n.op == "requant"), None)
    rp = next((n for n in nodes if n.op == "rprelu"), None)
    tb = dut.epi.thr[0].t_bits
    got = {"fixed": np.zeros((o, oh * ow), np.int64),
           "codes": [np.zeros((o, oh * ow), np.int64) for _ in thr_nodes]}
    order = [(b.og, b.pixel) for b in sched if b.last]
    res_i = [0]

    def chan(arr, og, fill=0):
        out = np.full(pe, fill, np.int64)
        part = arr[og * pe: (og + 1) * pe]
        out[: len(part)] = part
        return out.tolist()

    async def bench(ctx):
        ctx.set(dut.ow, int(layer.plan.ow))
        ctx.set(dut.en_requant, int(rq is not None))
        ctx.set(dut.en_add, int(add is not None))
        ctx.set(dut.en_rprelu, int(rp is not None))
        for st, node in (("rq", rq), ("add", add), ("rp", rp)):
            bits = node.type.bits if node is not None else fixed_bits
            ctx.set(getattr(dut, f"{st}_lo"), -(2 ** (bits - 1)))
            ctx.set(getattr(dut, f"{st}_hi"), 2 ** (bits - 1) - 1)
        if rq is not None:
            ctx.set(dut.shift, int(rq.attrs["shift"]))
        if add is not None:
            for name, v in (("a", sa), ("b", sb)):
                ctx.set(getattr(dut, f"{name}_left"), max(v, 0))
                ctx.set(getattr(dut, f"{name}_right"), max(-v, 0))
        if rp is not None:
            ctx.set(dut.slope_frac, int(rp.attrs["slope_frac"]))
        out_i, cur_og, t = 0, -1, 0
        since_last = dut.groups  # cycles since the last "last" beat (spacing >= groups)
        while out_i < len(order):
            b = sched[t] if t < len(sched) else None
            if b is not None and b.last and since_last < dut.groups:
                b = None  # too soon after the previous vector: an idle cycle
                ctx.set(dut.valid, 0)
                since_last += 1
                out_i = collect(ctx, out_i)
                await ctx.tick()
                continue
            if b is not None and b.og != cur_og:
                # a new output-channel group: drain the pipeline, then load its parameters
                for _ in range(dut.latency + 2):
                    ctx.set(dut.valid, 0)
                    out_i = collect(ctx, out_i)
                    await ctx.tick()
                cur_og = b.og
                ctx.set(dut.init, chan(layer.plan.const, cur_og))
                if rq is not None:
                    ctx.set(dut.mult, chan(rq.arrays["multiplier"], cur_og))
                    ctx.set(dut.bias, chan(rq.arrays["bias"], cur_og))
                if rp is not None:
                    for key in ("bias1", "slope", "bias2"):
                        ctx.set(getattr(dut, key), chan(rp.arrays[key], cur_og))
                for ti, tn in enumerate(thr_nodes):
                    pos = tn.arrays["pos"]
                    for lv in range(pos.shape[1]):
                        for lane, v in enumerate(chan(pos[:, lv], cur_og)):
                            ctx.set(getattr(dut, f"pos{ti}")[lane][lv], v)
                    if "neg" in tn.arrays:
                        for lv in range(pos.shape[1]):
                            for lane, v in enumerate(chan(tn.arrays["neg"][:, lv], cur_og)):
                                ctx.set(getattr(dut, f"neg{ti}")[lane][lv], v)
                        ctx.set(getattr(dut, f"breakpoint{ti}"),
                                chan(hw_breakpoint(g, tn), cur_og))
                    else:
                        ctx.set(getattr(dut, f"breakpoint{ti}"), [-(2 ** (tb - 1))] * pe)
            since_last = 0 if b is not None and b.last else since_last + 1
            if b is not None:
                ctx.set(dut.valid, 1)
                for name in ("first", "last", "corr", "dot_shift", "x_shift"):
                    ctx.set(getattr(dut, name), int(getattr(b, name)))
                for j, v in enumerate(b.x):
                    ctx.set(dut.x[j], int(v))
                for pp in range(pe):
                    for j in range(simd):
                        ctx.set(dut.w[pp][j], int(b.w[pp, j]))
                t += 1
            else:
                ctx.set(dut.valid, 0)
            out_i = collect(ctx, out_i)
            await ctx.tick()

    def collect(ctx, out_i):
        assert not ctx.get(dut.overrun), "a vector entered the serial epilogue too soon"
        if res is not None and ctx.get(dut.epi_valid):
            # the residual enters with its accumulator (epi_valid)
            og, pix = order[res_i[0]]
            ctx.set(dut.residual, chan(res[:, pix], og))
            res_i[0] += 1
        if ctx.get(dut.out_valid):
            og, pix = order[out_i]
            n = min(pe, o - og * pe)
            for pp in range(n):
                got["fixed"][og * pe + pp, pix] = ctx.get(dut.fixed[pp])
                for ti in range(len(thr_nodes)):
                    got["codes"][ti][og * pe + pp, pix] = ctx.get(getattr(dut, f"code{ti}")[pp])
            return out_i + 1
        return out_i

    run_sim(dut, bench)
    return got, thr_nodes


@pytest.mark.parametrize(("seed", "pe", "simd", "which", "epi_lanes"), [
    (0, 4, 8, 0, None),  # image input, int8 weights with zero points, requant -> two-sided
    (1, 3, 16, 1, None),  # odd 2-bit weights on codes, requant -> residual add -> RPReLU
    (2, 8, 4, 0, None),
    (1, 4, 16, 1, 1),  # a serial epilogue: one lane for 4 channels, residual and RPReLU
    (2, 8, 4, 0, 2),
])
def test_datapath_runs_real_layers_bit_exact(seed, pe, simd, which, epi_lanes):
    graph = small_graph(seed)
    prog = compile_layers(graph, EngineConfig(pe=pe, simd=simd))
    img = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (1, 3, 8, 8))).to(
        torch.uint8)
    env = run_program(prog, img)
    layer = [la for la in prog.layers if la.kind == "conv"][which]
    want = run_layer(prog, layer, env)
    got, thr = _run_layer_on_datapath(prog, layer, env, pe, simd, epi_lanes)
    last_fixed = [n for n in layer.nodes if graph.node(n).type.kind == "fixed"]
    if last_fixed:
        w = want[last_fixed[-1]][0].numpy().reshape(got["fixed"].shape)
        assert np.array_equal(got["fixed"], w)
    for ti, tn in enumerate(thr):
        w = want[tn.name][0].numpy().reshape(got["codes"][ti].shape)
        assert np.array_equal(got["codes"][ti], w)
    assert last_fixed or thr
    assert math.prod(got["fixed"].shape) > 0
