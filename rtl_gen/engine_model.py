"""Bit-exact behavioural model of the engine running a compiled program.

It computes every convolution the way the MAC array does: offset-binary operands split into
``a``/``w``-bit digits, one unsigned dot product per digit pair, shifted and summed, the
``ow * xsum`` correction and the per-channel constant (rtl_gen/compile/operands.py), with
padding read as ``xu = ox[c]``. Epilogue and vector ops use the IR's own semantics
(n2uq_hw/reference.py), which the epilogue components are tested against. Running it and
comparing every written tensor with ``run_ir`` checks the compiler's digit plans and layer
grouping before any RTL is simulated; it also reports the widest accumulator partial sum,
which sizes the RTL accumulators.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from n2uq_hw.reference import run_node
from rtl_gen.compile.operands import OperandPlan
from rtl_gen.compile.program import Layer, Program


def _digit(v: torch.Tensor, bits: int, d: int) -> torch.Tensor:
    return (v >> (bits * d)) & (2**bits - 1)


def conv_digits(plan: OperandPlan, x: torch.Tensor, stride: int, padding: int,
                a_bits: int, w_bits: int) -> tuple[torch.Tensor, int]:
    """The accumulator of a conv/linear layer via the array's digit arithmetic; also the
    largest ``|partial sum|`` the accumulator holds on the way (for its width)."""
    if x.dim() == 2:
        x = x[:, :, None, None]
    xu = (x.long() << plan.input_shift) + plan.in_offset
    if padding:
        inner = torch.ones_like(xu, dtype=torch.bool)
        xu = F.pad(xu, (padding,) * 4)
        inner = F.pad(inner, (padding,) * 4)
        pad = torch.from_numpy(plan.ox).view(1, -1, 1, 1).expand_as(xu)
        xu = torch.where(inner, xu, pad)
    wu = torch.from_numpy(plan.wu)
    o = wu.shape[0]
    acc = torch.from_numpy(plan.const).view(1, o, 1, 1).expand(
        x.shape[0], o, *_out_hw(xu, wu.shape[-1], stride)).clone()
    peak = int(acc.abs().max())
    ones = torch.ones(1, *wu.shape[1:], dtype=torch.float64)
    for d in range(plan.x_digits):
        xd = _digit(xu, a_bits, d).double()
        xsum = F.conv2d(xd, ones, stride=stride).long()
        for e in range(plan.w_digits):
            we = _digit(wu, w_bits, e).double()
            dot = F.conv2d(xd, we, stride=stride).long()
            acc = acc + (dot << (a_bits * d + w_bits * e + plan.w_scale_log2))
            if e == 0:
                acc = acc - ((plan.ow * xsum) << (a_bits * d))
            peak = max(peak, int(acc.abs().max()))
    return acc, peak


def _out_hw(xpad: torch.Tensor, k: int, s: int) -> tuple[int, int]:
    return (xpad.shape[2] - k) // s + 1, (xpad.shape[3] - k) // s + 1


def run_layer(program: Program, layer: Layer, env: dict[str, torch.Tensor]) -> dict:
    """Execute ``layer`` reading ``env`` (tensor name -> batch); returns its node outputs."""
    g, cfg = program.graph, program.config
    out: dict[str, torch.Tensor] = {}
    for i, name in enumerate(layer.nodes):
        node = g.node(name)
        args = [out[n] if n in out else env[n] for n in node.inputs]
        if i == 0 and layer.kind == "conv":
            acc, peak = conv_digits(layer.plan, args[0], int(node.attrs.get("stride", 1)),
                                    int(node.attrs.get("padding", 0)), cfg.a_bits, cfg.w_bits)
            if peak > layer.plan.acc_bound:
                raise AssertionError(f"{name}: partial sum {peak} beyond the plan's bound "
                                     f"{layer.plan.acc_bound}")
            out[name] = acc.reshape(acc.shape[0], -1) if node.op == "linear" else acc
        else:
            out[name] = run_node(node, *args)
    return out


@torch.no_grad()
def run_program(program: Program, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run every layer on ``images`` (uint8 ``[B, 3, H, W]``); returns the written tensors."""
    env: dict[str, torch.Tensor] = {program.graph.input: images.long()}
    for layer in program.layers:
        res = run_layer(program, layer, env)
        for name in layer.writes:
            env[name] = res[name]
    return env
