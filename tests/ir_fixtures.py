"""Small valid IR graphs built by hand for the IR tests (seeded numpy RNG).

The builder derives every type and bound independently of the validator, from docs/IR.md:
``acc_bound = max_o sum_{i,j} |w[o, i, j]| * max|x_i - zp_i|`` over the input type's range
(the looser textbook bound, which the validator must accept).
"""

from __future__ import annotations

import math

import numpy as np

from n2uq_hw.ir.graph import Graph, Node, TensorType


class Builder:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Node] = []

    def t(self, name: str) -> TensorType:
        return next(n for n in self.nodes if n.name == name).type

    def emit(self, name: str, op: str, inputs: list[str], t: TensorType,
             attrs: dict | None = None, arrays: dict | None = None) -> str:
        self.nodes.append(Node(name, op, list(inputs), t, dict(attrs or {}), dict(arrays or {})))
        return name

    def graph(self, output: str | None = None, model: str = "tiny") -> Graph:
        return Graph(model, self.nodes, self.nodes[0].name, output or self.nodes[-1].name,
                     {"note": "hand-built test graph", "bits": 2})

    # ---- ops -------------------------------------------------------------------------
    def input(self, name: str = "in", h: int = 8, w: int = 8) -> str:
        return self.emit(name, "input", [], TensorType("image", False, 8, (3, h, w)))

    def _weights(self, shape: tuple[int, ...], fmt: str, wbits: int) -> np.ndarray:
        if fmt == "int8":
            return self.rng.integers(-128, 128, size=shape, dtype=np.int8)
        n = 2**wbits - 1
        return (2 * self.rng.integers(0, n + 1, size=shape) - n).astype(np.int8)

    def _bound(self, x: TensorType, w3: np.ndarray, zp: np.ndarray | None) -> int:
        zpv = np.zeros(w3.shape[1], np.int64) if zp is None else zp.astype(np.int64)
        xmax = np.maximum(np.abs(x.min - zpv), np.abs(x.max - zpv))
        per = (np.abs(w3.astype(np.int64)).sum(-1) * xmax[None, :]).sum(1)
        return int(per.max())

    def conv(self, name: str, x: str, out_ch: int, k: int = 3, s: int = 1, p: int = 1,
             fmt: str = "int8", wbits: int = 8, zero_point: bool = False) -> str:
        xt = self.t(x)
        c, h, w = xt.shape
        wt = self._weights((out_ch, c, k, k), fmt, wbits)
        arrays = {"weight": wt}
        zp = None
        if zero_point:
            zp = self.rng.integers(100, 156, size=c).astype(np.int16)
            arrays["zero_point"] = zp
        bound = self._bound(xt, wt.reshape(out_ch, c, -1), zp)
        bits = math.ceil(math.log2(bound + 1)) + 1
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        attrs = {"kernel": k, "stride": s, "padding": p, "acc_bound": bound,
                 "weight_format": fmt, "weight_bits": wbits, "acc_scale": [0.01] * out_ch}
        return self.emit(name, "conv2d", [x], TensorType("acc", True, bits, (out_ch, oh, ow)),
                         attrs, arrays)

    def linear(self, name: str, x: str, out: int) -> str:
        xt = self.t(x)
        c = xt.shape[0]
        wt = self._weights((out, c), "int8", 8)
        bound = self._bound(xt, wt[:, :, None], None)
        bits = math.ceil(math.log2(bound + 1)) + 1
        attrs = {"acc_bound": bound, "weight_format": "int8", "weight_bits": 8}
        return self.emit(name, "linear", [x], TensorType("acc", True, bits, (out,)), attrs,
                         {"weight": wt})

    def requant(self, name: str, x: str, bits: int = 12, frac: int = 6, shift: int = 16) -> str:
        xt = self.t(x)
        c = xt.shape[0]
        mult = self.rng.integers(-(2**12), 2**12, size=c).astype(np.int64)
        bias = self.rng.integers(-(2**20), 2**20, size=c).astype(np.int64) + 2 ** (shift - 1)
        return self.emit(name, "requant", [x], TensorType("fixed", True, bits, xt.shape, frac,
                                                          2.0**-frac),
                         {"shift": shift, "bits": bits, "frac": frac},
                         {"multiplier": mult, "bias": bias})

    def threshold(self, name: str, x: str, bits: int = 2, two_sided: bool = False) -> str:
        xt = self.t(x)
        c, n = xt.shape[0], 2**bits - 1
        lo, hi = max(xt.min, -1000), min(xt.max, 1000)
        pos = np.sort(self.rng.integers(lo, hi + 2, size=(c, n)), axis=1).astype(np.int64)
        arrays = {"pos": pos}
        if two_sided:
            neg = -np.sort(-self.rng.integers(lo - 1, hi + 1, size=(c, n)), axis=1)
            bp = self.rng.integers(lo, hi + 2, size=c).astype(np.int64)
            bp[0] = -(2**62)
            arrays.update(neg=neg.astype(np.int64), breakpoint=bp)
        return self.emit(name, "threshold", [x],
                         TensorType("code", False, bits, xt.shape, 0, 0.25), {"bits": bits},
                         arrays)

    def add(self, name: str, a: str, b: str, bits: int = 13, frac: int = 6) -> str:
        ta, tb = self.t(a), self.t(b)
        attrs = {"shift_a": frac - ta.frac, "shift_b": frac - tb.frac, "bits": bits, "frac": frac}
        return self.emit(name, "add", [a, b], TensorType("fixed", True, bits, ta.shape, frac,
                                                         2.0**-frac), attrs)

    def rprelu(self, name: str, x: str, bits: int = 13) -> str:
        xt = self.t(x)
        c = xt.shape[0]
        arrays = {"bias1": self.rng.integers(-64, 64, size=c).astype(np.int64),
                  "slope": self.rng.integers(-(2**13), 2**14, size=c).astype(np.int64),
                  "bias2": self.rng.integers(-64, 64, size=c).astype(np.int64)}
        return self.emit(name, "rprelu", [x], TensorType("fixed", True, bits, xt.shape, xt.frac,
                                                         xt.scale),
                         {"slope_frac": 14, "bits": bits}, arrays)

    def maxpool(self, name: str, x: str, k: int = 2, s: int = 2, p: int = 0) -> str:
        xt = self.t(x)
        c, h, w = xt.shape
        shape = (c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        return self.emit(name, "maxpool", [x], TensorType(xt.kind, xt.signed, xt.bits, shape,
                                                          xt.frac, xt.scale),
                         {"kernel": k, "stride": s, "padding": p})

    def avgpool_sum(self, name: str, x: str) -> str:
        xt = self.t(x)
        c, h, w = xt.shape
        bits = xt.bits + math.ceil(math.log2(h * w)) + (0 if xt.signed else 1)
        return self.emit(name, "avgpool_sum", [x], TensorType("acc", True, bits, (c,)),
                         {"acc_scale": [2.0**-xt.frac] * c})


def small_graph(seed: int = 0) -> Graph:
    """input -> conv1 (int8, zero_point) -> bn1 (requant) -> act1 (two-sided threshold) ->
    conv2 (odd 2-bit) -> bn2 (requant) -> add1 (+ bn1) -> prelu1 (rprelu) -> pool (maxpool)
    -> gap (avgpool_sum) -> fc (linear) -> out (requant)."""
    b = Builder(seed)
    x = b.input("in", 8, 8)
    x = b.conv("conv1", x, 8, k=3, s=1, p=1, fmt="int8", wbits=8, zero_point=True)
    r1 = b.requant("bn1", x, bits=12, frac=6)
    a = b.threshold("act1", r1, bits=2, two_sided=True)
    x = b.conv("conv2", a, 8, k=3, s=1, p=1, fmt="odd", wbits=2)
    r2 = b.requant("bn2", x, bits=12, frac=6)
    x = b.add("add1", r2, r1, bits=13, frac=6)
    x = b.rprelu("prelu1", x, bits=13)
    x = b.maxpool("pool", x, 2, 2, 0)
    x = b.avgpool_sum("gap", x)
    x = b.linear("fc", x, 10)
    b.requant("out", x, bits=16, frac=8, shift=20)
    return b.graph()


def resnet18_like(seed: int = 0) -> Graph:
    """ResNet-18's conv/FC shapes at 224x224 (11.7M weights): stem 7x7 int8 conv, maxpool,
    8 basic blocks of two odd 2-bit 3x3 convs (int8 1x1 downsample where the shape changes),
    global sum pool, 1000-way FC."""
    b = Builder(seed)
    x = b.input("in", 224, 224)
    x = b.conv("stem", x, 64, k=7, s=2, p=3, zero_point=True)
    x = b.requant("stem.bn", x, bits=16, frac=8)
    x = b.maxpool("stem.pool", x, 3, 2, 1)
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for blk in range(2):
            name = f"l{stage + 1}.{blk}"
            stride = 2 if stage > 0 and blk == 0 else 1
            a = b.threshold(f"{name}.act1", x, bits=2)
            y = b.conv(f"{name}.conv1", a, cout, 3, stride, 1, fmt="odd", wbits=2)
            y = b.requant(f"{name}.bn1", y, bits=16, frac=8)
            a = b.threshold(f"{name}.act2", y, bits=2)
            y = b.conv(f"{name}.conv2", a, cout, 3, 1, 1, fmt="odd", wbits=2)
            y = b.requant(f"{name}.bn2", y, bits=16, frac=8)
            if stride != 1 or cin != cout:
                x = b.conv(f"{name}.down", x, cout, 1, stride, 0)
                x = b.requant(f"{name}.down.bn", x, bits=16, frac=8)
            x = b.add(f"{name}.add", y, x, bits=16, frac=8)
            x = b.rprelu(f"{name}.prelu", x, bits=16)
            cin = cout
    x = b.avgpool_sum("gap", x)
    x = b.linear("fc", x, 1000)
    b.requant("out", x, bits=16, frac=8, shift=24)
    return b.graph(model="resnet18_like")
