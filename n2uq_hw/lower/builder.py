"""Emits IR nodes while tracking the float model's values on the calibration batch.

Every emitted tensor is paired with the float model's value of the same point (``ref``),
which picks fixed-point formats during lowering and is what the integer reference is
compared against afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from n2uq_hw.ir.graph import Node, TensorType
from n2uq_hw.lower.fold import (
    Chain,
    acc_bound,
    acc_range,
    choose_frac,
    int8_per_channel,
    requant_constants,
    solve_thresholds,
)
from n2uq_hw.quant import N2UQActQuant, RPReLU

TIE_EPS = 1e-4  # |beta1 * r - t_i| below this: a float32 tie in the float model


def _int_dtype(a: np.ndarray) -> type:
    """Smallest of int8/int16/int32 that holds every value of ``a``."""
    m = int(np.abs(a).max(initial=0))
    return np.int8 if m <= 127 else np.int16 if m <= 32767 else np.int32


@dataclass
class Value:
    """An emitted IR tensor and the float model's value at the same point."""

    name: str
    type: TensorType
    ref: torch.Tensor  # float model value [B, ...] on the calibration batch
    vmin: np.ndarray | None = None  # exact per-channel integer range when known (acc)
    vmax: np.ndarray | None = None


def bn_affine(bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BN as ``scale * x + shift`` (float64)."""
    var = bn.running_var.double().numpy()
    scale = bn.weight.detach().double().numpy() / np.sqrt(var + bn.eps)
    shift = bn.bias.detach().double().numpy() - bn.running_mean.double().numpy() * scale
    return scale, shift


@dataclass
class Builder:
    residual_bits: int = 16
    headroom: float = 2.0
    mult_bits: int = 16
    stem_bits: int = 8
    input_shift: int = 0
    nodes: list[Node] = field(default_factory=list)
    refs: dict[str, torch.Tensor] = field(default_factory=dict)  # node -> float value
    ties: dict[str, torch.Tensor] = field(default_factory=dict)  # threshold -> near-tie mask

    def emit(self, node: Node, ref: torch.Tensor, source: str = "", **rng) -> Value:
        if any(n.name == node.name for n in self.nodes):
            raise ValueError(f"duplicate node name {node.name}")
        self.nodes.append(node)
        self.refs[node.name] = ref.detach()
        if source:
            node.attrs.setdefault("source", source)
        return Value(node.name, node.type, ref, rng.get("vmin"), rng.get("vmax"))

    def frac_for(self, *refs: torch.Tensor) -> int:
        m = max(float(r.detach().abs().max()) for r in refs)
        return choose_frac(m, self.residual_bits, self.headroom)

    def fixed_type(self, frac: int, shape: tuple[int, ...]) -> TensorType:
        return TensorType("fixed", True, self.residual_bits, shape, frac, 2.0**-frac)

    # ---- nodes -----------------------------------------------------------------------
    def input(self, name: str, pixels: torch.Tensor, normalized: torch.Tensor) -> Value:
        t = TensorType("image", False, 8, tuple(pixels.shape[1:]))
        return self.emit(Node(name, "input", [], t), normalized)

    def conv(self, name: str, x: Value, weight: np.ndarray, *, stride: int, padding: int,
             fmt: str, wbits: int, acc_scale: np.ndarray, ref: torch.Tensor, source: str,
             zero_point: np.ndarray | None = None, input_shift: int = 0) -> Value:
        """Integer conv; ``ref`` is the float conv output this accumulator stands for."""
        k = weight.shape[-1]
        lo, hi = self._input_range(x, zero_point, input_shift)
        bound = acc_bound(weight, np.maximum(np.abs(lo), np.abs(hi)))
        bits = max(2, int(np.ceil(np.log2(bound + 1))) + 1)
        h, w = x.type.shape[1:]
        oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
        t = TensorType("acc", True, bits, (weight.shape[0], oh, ow))
        arrays = {"weight": weight.astype(_int_dtype(weight))}
        if zero_point is not None:
            arrays["zero_point"] = zero_point.astype(np.int32)
        attrs = {"kernel": k, "stride": stride, "padding": padding, "acc_bound": bound,
                 **({"input_shift": input_shift} if input_shift else {}),
                 "weight_format": fmt, "weight_bits": wbits,
                 "acc_scale": [float(s) for s in acc_scale]}
        mn, mx = acc_range(weight, np.minimum(lo, 0) if padding else lo,
                           np.maximum(hi, 0) if padding else hi)
        return self.emit(Node(name, "conv2d", [x.name], t, attrs, arrays), ref, source,
                         vmin=mn, vmax=mx)

    def linear(self, name: str, x: Value, weight: np.ndarray, acc_scale: np.ndarray,
               ref: torch.Tensor, source: str) -> Value:
        lo, hi = self._input_range(x, None)
        bound = acc_bound(weight[:, :, None], np.maximum(np.abs(lo), np.abs(hi)))
        bits = max(2, int(np.ceil(np.log2(bound + 1))) + 1)
        t = TensorType("acc", True, bits, (weight.shape[0],))
        attrs = {"acc_bound": bound, "weight_format": "int8", "weight_bits": 8,
                 "acc_scale": [float(s) for s in acc_scale]}
        mn, mx = acc_range(weight[:, :, None], lo, hi)
        return self.emit(Node(name, "linear", [x.name], t, attrs,
                              {"weight": weight.astype(_int_dtype(weight))}), ref, source,
                         vmin=mn, vmax=mx)

    def threshold(self, name: str, v: Value, g: np.ndarray, h: np.ndarray, act: RPReLU,
                  quant: N2UQActQuant, r: torch.Tensor, source: str) -> Value:
        """Fold ``v -> g v + h -> RPReLU -> quantizer`` into integer thresholds on ``v``.

        ``r`` is the float model's quantizer input; its codes are the node's reference and
        elements whose ``beta1 * r`` lies within ``TIE_EPS`` of a threshold are recorded as
        float32 ties (either code is right there).
        """
        ref_codes = quant.codes(r)
        u = r.detach().double() * float(quant.beta1.detach())
        self.pending_tie = ((u[..., None] - quant.thresholds().double()).abs() < TIE_EPS).any(-1)
        c = v.type.shape[0]
        if act is not None:
            b1 = act.bias1.bias.detach().double().reshape(-1).numpy()
            a = act.prelu.weight.detach().double().reshape(-1).numpy()
            b2 = act.bias2.bias.detach().double().reshape(-1).numpy()
            if a.size == 1:
                a = np.full(c, a[0])
        else:
            b1 = a = b2 = None
        chain = Chain(g=np.asarray(g, np.float64), h=np.asarray(h, np.float64),
                      b1=np.zeros(c) if b1 is None else b1, a=np.ones(c) if a is None else a,
                      b2=np.zeros(c) if b2 is None else b2, beta1=float(quant.beta1.detach()))
        t = quant.thresholds().double().numpy()
        vmin = v.vmin if v.vmin is not None else np.full(c, v.type.min)
        vmax = v.vmax if v.vmax is not None else np.full(c, v.type.max)
        th = solve_thresholds(chain, t, vmin.astype(np.int64), vmax.astype(np.int64))
        arrays = {"pos": th.pos}
        if th.neg is not None:
            arrays.update(neg=th.neg, breakpoint=th.breakpoint)
        out = TensorType("code", False, quant.bits, v.type.shape, 0, float(quant.output_step()))
        self.ties[name] = self.pending_tie
        return self.emit(Node(name, "threshold", [v.name], out, {"bits": quant.bits}, arrays),
                         ref_codes, source)

    def requant(self, name: str, v: Value, g: np.ndarray, h: np.ndarray, frac: int,
                ref: torch.Tensor, source: str, bits: int | None = None) -> Value:
        lo, hi = self._input_range(v, None)
        vmax_abs = int(max(np.abs(lo).max(), np.abs(hi).max()))
        m, b, s = requant_constants(np.asarray(g, np.float64), np.asarray(h, np.float64), frac,
                                    self.mult_bits, vmax_abs)
        t = self.fixed_type(frac, v.type.shape)
        if bits is not None:
            t.bits = bits
        return self.emit(Node(name, "requant", [v.name], t,
                              {"shift": s, "bits": t.bits, "frac": frac},
                              {"multiplier": m, "bias": b}), ref, source)

    def add(self, name: str, a: Value, b: Value, frac: int, ref: torch.Tensor) -> Value:
        t = self.fixed_type(frac, a.type.shape)
        attrs = {"shift_a": frac - a.type.frac, "shift_b": frac - b.type.frac,
                 "bits": t.bits, "frac": frac}
        return self.emit(Node(name, "add", [a.name, b.name], t, attrs), ref)

    def rprelu(self, name: str, x: Value, act: RPReLU, ref: torch.Tensor, source: str) -> Value:
        f = x.type.frac
        scale = 2.0**f
        slope = act.prelu.weight.detach().double().reshape(-1).numpy()
        c = x.type.shape[0]
        if slope.size == 1:
            slope = np.full(c, slope[0])
        # slopes get as many fractional bits as the stream (minus sign and one integer bit)
        sa = self.residual_bits - 2
        while sa > 0 and np.max(np.abs(np.round(slope * 2.0**sa))) >= 2 ** (self.residual_bits - 1):
            sa -= 1
        arrays = {
            "bias1": np.round(act.bias1.bias.detach().double().reshape(-1).numpy() * scale
                              ).astype(np.int64),
            "slope": np.round(slope * 2.0**sa).astype(np.int64),
            "bias2": np.round(act.bias2.bias.detach().double().reshape(-1).numpy() * scale
                              ).astype(np.int64),
        }
        t = self.fixed_type(f, x.type.shape)
        return self.emit(Node(name, "rprelu", [x.name], t,
                              {"slope_frac": sa, "bits": t.bits}, arrays), ref, source)

    def maxpool(self, name: str, x: Value, k: int, s: int, p: int, ref: torch.Tensor) -> Value:
        c, h, w = x.type.shape
        shape = (c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        t = TensorType(x.type.kind, x.type.signed, x.type.bits, shape, x.type.frac, x.type.scale)
        return self.emit(Node(name, "maxpool", [x.name], t,
                              {"kernel": k, "stride": s, "padding": p}), ref)

    def avgpool_sum(self, name: str, x: Value, ref: torch.Tensor) -> Value:
        c, h, w = x.type.shape
        bits = x.type.bits + int(np.ceil(np.log2(h * w))) + (0 if x.type.signed else 1)
        t = TensorType("acc", True, bits, (c,))
        n = h * w
        return self.emit(Node(name, "avgpool_sum", [x.name], t,
                              {"acc_scale": [2.0**-x.type.frac] * c}), ref * n,
                         vmin=np.full(c, x.type.min * n), vmax=np.full(c, x.type.max * n))

    def _input_range(self, x: Value, zero_point: np.ndarray | None, shift: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
        c = x.type.shape[0]
        lo = np.full(c, x.type.min, dtype=np.int64)
        hi = np.full(c, x.type.max, dtype=np.int64)
        if x.vmin is not None:
            lo, hi = x.vmin.astype(np.int64), x.vmax.astype(np.int64)
        lo, hi = lo * 2**shift, hi * 2**shift
        if zero_point is not None:
            lo, hi = lo - zero_point, hi - zero_point
        return lo, hi


def conv_weight_codes(conv) -> tuple[np.ndarray, np.ndarray]:
    """Odd integer codes ``m`` [O, I, k, k] and per-channel scale of a quantized conv."""
    m, scale = conv.weight_quant.codes(conv.weight)
    return m.numpy().astype(np.int64), scale.double().reshape(-1).numpy()


__all__ = ["Builder", "Value", "bn_affine", "conv_weight_codes", "int8_per_channel"]
