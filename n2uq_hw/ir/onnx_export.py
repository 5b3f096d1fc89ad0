"""Export an integer IR (docs/IR.md) as a QONNX/FINN-style ONNX model that computes the same
integers.

``to_onnx(graph)`` builds the ``onnx.ModelProto``; ``export_onnx(graph, path)`` checks it with
``onnx.checker`` and writes it. Every IR node becomes a few standard ONNX ops (opset 13) or
QONNX ``MultiThreshold`` nodes (domain ``qonnx.custom_op.general``); the ONNX tensor that
holds an IR node's output is named exactly like the node, so any ONNX executor that returns
intermediate tensors (qonnx's ``execute_onnx(..., return_full_exec_context=True)``) exposes
every IR value. As in QONNX, integers travel in float tensors; here in **float64** (DOUBLE),
because the requantisation products ``v * multiplier`` reach 2^48 in real networks and
float32 holds integers exactly only below 2^24. Each tensor carries a ``finn_datatype``
annotation (``UINT8`` for the image, ``UINT<b>`` for codes, ``INT<b>`` for acc/fixed).

Mapping (``[C]`` arrays are broadcast per channel, ``2^k`` constants are exact powers of two):

- ``input``: graph input ``[batch, *shape]`` (float32 when the type's range is below 2^24, as
  for the uint8 image, else float64), then ``Cast`` to float64.
- ``conv2d``: ``Mul`` by ``2^input_shift`` (when that optional attribute is set), ``Sub``
  zero_point, then ``Conv`` in **float32** between two ``Cast`` nodes
  (onnxruntime has no float64 Conv). Exact when every partial sum of the accumulation is
  below 2^24: the export bounds it statically, ``max_o sum_{i,ky,kx} |w| * max|x'_i|`` over
  the input *type's* range, whatever the summation order. Where that bound is 2^24 or more
  (16-bit stem weights, int8 weights on a 16-bit fixed-point input), the weights and/or the
  input are split into base-2^d digits (``x' = sum_a 2^(a*dx) x_a`` via ``Floor``/``Sub``,
  ``w = sum_b 2^(b*dw) w_b``) so that every digit convolution passes the bound, and the
  digit results are recombined in float64: ``acc = sum_{a,b} 2^(a*dx + b*dw) conv(x_a, w_b)``.
- ``linear``: ``Flatten`` (a ``[C, 1, 1]`` input), ``Sub`` zero_point, float64 ``MatMul``
  with the transposed weight.
- ``threshold``: ``MultiThreshold(v, pos)`` with ``out_scale=1, out_bias=0``; qonnx counts
  ``v >= t``, the IR's rule. Two-sided: ``MultiThreshold(Neg(v), -neg)`` counts
  ``v <= neg``, ``Where(GreaterOrEqual(v, breakpoint), pos_code, neg_code)`` picks per value.
- ``requant``: ``Clip(Floor(Mul(Add(Mul(v, M), B), 2^-S)), lo, hi)``.
- ``add``: ``align(v, s)`` is ``Mul(v, 2^s)`` for ``s >= 0`` and
  ``Floor(Mul(Add(v, 2^(-s-1)), 2^s))`` for ``s < 0``; then ``Add`` and ``Clip``.
- ``rprelu``: ``z = Add(x, bias1)``, ``n = Floor(Mul(Add(Mul(z, slope), 2^(Sa-1)), 2^-Sa))``
  (``Mul(z, slope)`` for ``Sa = 0``), ``Where(GreaterOrEqual(z, 0), z, n)``, ``Add`` bias2,
  ``Clip``.
- ``maxpool``: ``MaxPool`` (ONNX padding never wins, as in the IR).
- ``avgpool_sum``: ``ReduceSum`` over H, W (``keepdims=0``).

Exactness: every float64 value is an integer (or an integer times a power of two before a
``Floor``) below 2^52 in magnitude, checked per node from the input types' ranges and the
node's constants before anything is written, so every float64 ``Mul``/``Add``/``Sub``/
``MatMul``/``ReduceSum`` result is exactly representable and therefore computed exactly, in
any order. Constants are checked to convert to float64 without change. A node beyond these
limits (possible in the IR, whose limit is 2^62) is refused with its name, never exported
inexactly.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import Graph, Node, TensorType

__all__ = ["F32_EXACT_LIMIT", "F64_EXACT_LIMIT", "OPSET", "QONNX_DOMAIN", "export_onnx",
           "to_onnx"]

OPSET = 13
QONNX_DOMAIN = "qonnx.custom_op.general"
F32_EXACT_LIMIT = 2**24  # float32 Conv partial sums must stay below this (exact integers)
F64_EXACT_LIMIT = 2**52  # float64 values below this (2^53 exact, factor 2 margin for bounds)
_MAX_DIGITS = 8


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        fail("ONNX export needs the 'onnx' package: pip install 'n2uq-hw[onnx]'")
    return onnx


class _Emitter:
    """Collects ONNX nodes, initializers, value infos and datatype annotations."""

    def __init__(self, batch: int) -> None:
        self.onnx = _onnx()
        self.TP = self.onnx.TensorProto
        self.batch = batch
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.infos: dict[str, tuple[int, tuple[int, ...]]] = {}
        self.dtypes: dict[str, str] = {}

    def const(self, name: str, arr: np.ndarray, dtype: str = "double") -> str:
        np_dtype = {"double": np.float64, "float": np.float32, "int64": np.int64}[dtype]
        self.inits.append(self.onnx.numpy_helper.from_array(
            np.ascontiguousarray(arr, dtype=np_dtype), name))
        return name

    def scalar(self, name: str, value: float) -> str:
        return self.const(name, np.array(value, dtype=np.float64))

    def op(self, op_type: str, inputs: list[str], out: str, shape: tuple[int, ...],
           elem: str = "double", domain: str = "", **attrs: Any) -> str:
        node_kw = {"domain": domain} if domain else {}
        self.nodes.append(self.onnx.helper.make_node(
            op_type, inputs, [out], name=f"{out}#{op_type}", **node_kw, **attrs))
        elem_type = {"double": self.TP.DOUBLE, "float": self.TP.FLOAT, "bool": self.TP.BOOL}
        self.infos[out] = (elem_type[elem], (self.batch, *shape))
        return out


def _err(node: Node, msg: str) -> NoReturn:
    fail(f"node {node.name!r} ({node.op}): cannot export exactly to ONNX: {msg}")


def _absmax(t: TensorType) -> int:
    return max(-t.min, t.max)


def _exact_f64(node: Node, key: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` as float64, refusing values that float64 would round."""
    a = np.asarray(arr, dtype=np.int64)
    f = a.astype(np.float64)
    inside = np.abs(f) < 2.0**63  # 2^63 (rounded up from near INT64_MAX) has no int64
    back = np.where(inside, f, 0).astype(np.int64)
    if not bool(np.all((inside & (back == a)) | (a == np.iinfo(np.int64).min))):
        _err(node, f"array {key!r} holds integers that float64 cannot represent exactly")
    return f


def _chan(arr: np.ndarray, rank: int) -> np.ndarray:
    """A ``[C]`` array shaped ``[1, C, 1, ...]`` to broadcast over ``[B, C, ...]``."""
    return np.asarray(arr).reshape(1, -1, *([1] * (rank - 2)))


def _check(node: Node, what: str, bound: float) -> None:
    if not bound < F64_EXACT_LIMIT:
        _err(node, f"{what} can reach {bound:.4g} >= 2^52 (float64 would round)")


def _int_dtype_name(lo: int, hi: int) -> str:
    if lo >= 0:
        return f"UINT{max(1, int(hi).bit_length())}"
    return f"INT{max(int(-lo - 1).bit_length(), int(hi).bit_length()) + 1}"


def _type_dtype_name(t: TensorType) -> str:
    return f"{'INT' if t.signed else 'UINT'}{t.bits}"


# ----------------------------------------------------------------------------- conv2d


def _digits_w(w: np.ndarray, n: int, d: int) -> list[np.ndarray]:
    """``w = sum_b 2^(b*d) w_b``: n-1 unsigned d-bit digits, the top one signed."""
    if n == 1:
        return [w]
    out = [(w >> (d * b)) & ((1 << d) - 1) for b in range(n - 1)]
    return [*out, w >> (d * (n - 1))]


def _digit_max_x(lo: np.ndarray, hi: np.ndarray, n: int, d: int) -> list[np.ndarray]:
    """Per channel ``max|x_a|`` of the digits of ``x' in [lo, hi]`` (int64 arrays)."""
    if n == 1:
        return [np.maximum(np.abs(lo), np.abs(hi))]
    top = (1 << d) - 1  # a negative x' has low digits up to 2^d - 1 (two's complement)
    low = [np.where(lo >= 0, np.minimum(hi, top), top)] * (n - 1)
    s = d * (n - 1)
    return [*low, np.maximum(np.abs(lo >> s), np.abs(hi >> s))]


def _pair_bound(wd: np.ndarray, xmax: np.ndarray) -> float:
    """``max_o sum_i (sum_k |w[o, i, k]|) * xmax[i]`` in float64 (exact below 2^53)."""
    wl1 = np.abs(wd.reshape(wd.shape[0], wd.shape[1], -1)).sum(-1).astype(np.float64)
    return float((wl1 @ xmax.astype(np.float64)).max()) if wd.size else 0.0


def _plan_conv(node: Node, w: np.ndarray, lo: np.ndarray, hi: np.ndarray
               ) -> tuple[int, int, int, int]:
    """Fewest digit convolutions ``(nx, dx, nw, dw)`` whose partial sums stay below 2^24."""
    xbits = max(1, int(np.maximum(np.abs(lo), np.abs(hi)).max(initial=0)).bit_length())
    wbits = max(1, int(np.abs(w).max(initial=0)).bit_length())
    cands = sorted(((nx, nw) for nx in range(1, _MAX_DIGITS + 1)
                    for nw in range(1, _MAX_DIGITS + 1)), key=lambda c: (c[0] * c[1], c[0]))
    for nx, nw in cands:
        if nx > xbits or nw > wbits:
            continue
        dx, dw = math.ceil(xbits / nx), math.ceil(wbits / nw)
        xs, ws = _digit_max_x(lo, hi, nx, dx), _digits_w(w, nw, dw)
        if max(int(m.max(initial=0)) for m in xs) >= F32_EXACT_LIMIT:
            continue
        total, ok = 0.0, True
        for a, xm in enumerate(xs):
            for b, wd in enumerate(ws):
                pb = _pair_bound(wd, xm)
                if pb >= F32_EXACT_LIMIT:
                    ok = False
                    break
                total += pb * 2.0 ** (a * dx + b * dw)
            if not ok:
                break
        if ok:
            _check(node, "the accumulator (digit sum)", total)
            return nx, dx, nw, dw
    _err(node, f"no split into at most {_MAX_DIGITS}x{_MAX_DIGITS} float32 digit "
               "convolutions keeps partial sums below 2^24")
    raise AssertionError  # unreachable


def _conv2d(em: _Emitter, node: Node, x: str, xt: TensorType) -> None:
    n = node.name
    k, s, p = (int(node.attrs[a]) for a in ("kernel", "stride", "padding"))
    w = np.asarray(node.arrays["weight"], dtype=np.int64)
    c_in = w.shape[1]
    zp = np.asarray(node.arrays.get("zero_point", np.zeros(c_in)), dtype=np.int64)
    shift = int(node.attrs.get("input_shift", 0))  # x' = x * 2^input_shift - zero_point
    # range of x' (padding contributes 0 to a partial sum; the bound below covers that)
    lo, hi = xt.min * 2**shift - zp, xt.max * 2**shift - zp
    shape_in = tuple(xt.shape)
    _check(node, "x' = x * 2^input_shift - zero_point",
           float(np.maximum(np.abs(lo), np.abs(hi)).max(initial=0)))
    if shift:
        x = em.op("Mul", [x, em.scalar(f"{n}:2^input_shift", 2.0**shift)], f"{n}:x<<shift",
                  shape_in)
    if np.any(zp != 0):
        x = em.op("Sub", [x, em.const(f"{n}:zero_point", _chan(zp, 4))], f"{n}:x", shape_in)
    nx, dx, nw, dw = _plan_conv(node, w, lo, hi)
    xdig: list[str] = []
    q = x
    for a in range(nx - 1):  # x' = sum_a 2^(a*dx) x_a: low digits in [0, 2^dx), top signed
        qn = em.op("Floor", [em.op("Mul", [q, em.scalar(f"{n}:x{a}/2^-d", 2.0**-dx)],
                                   f"{n}:x{a}:scaled", shape_in)], f"{n}:x{a}:hi", shape_in)
        back = em.op("Mul", [qn, em.scalar(f"{n}:x{a}/2^d", 2.0**dx)], f"{n}:x{a}:back",
                     shape_in)
        xdig.append(em.op("Sub", [q, back], f"{n}:x{a}", shape_in))
        q = qn
    xdig.append(q)
    xf = [em.op("Cast", [xd], f"{n}:x{a}:f32", shape_in, elem="float", to=em.TP.FLOAT)
          for a, xd in enumerate(xdig)]
    out_shape = tuple(node.type.shape)
    terms: list[str] = []
    for b, wd in enumerate(_digits_w(w, nw, dw)):
        wname = em.const(f"{n}:weight{b}" if nw > 1 else f"{n}:weight", wd, "float")
        em.dtypes[wname] = _int_dtype_name(int(wd.min(initial=0)), int(wd.max(initial=0)))
        for a, xa in enumerate(xf):
            tag = f"{a}.{b}" if nx * nw > 1 else ""
            y = em.op("Conv", [xa, wname], f"{n}:conv{tag}", out_shape, elem="float",
                      kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
            single = nx * nw == 1
            y = em.op("Cast", [y], n if single else f"{n}:conv{tag}:f64", out_shape,
                      to=em.TP.DOUBLE)
            e = a * dx + b * dw
            if e:
                y = em.op("Mul", [y, em.scalar(f"{n}:conv{tag}:2^{e}", 2.0**e)],
                          f"{n}:conv{tag}:scaled", out_shape)
            terms.append(y)
    acc = terms[0]
    for i, t in enumerate(terms[1:], 1):
        acc = em.op("Add", [acc, t], n if i == len(terms) - 1 else f"{n}:sum{i}", out_shape)


# ----------------------------------------------------------------------------- other ops


def _linear(em: _Emitter, node: Node, x: str, xt: TensorType) -> None:
    n = node.name
    w = np.asarray(node.arrays["weight"], dtype=np.int64)
    c_in = w.shape[1]
    if len(xt.shape) == 3:
        x = em.op("Flatten", [x], f"{n}:flat", (c_in,), axis=1)
    zp = np.asarray(node.arrays.get("zero_point", np.zeros(c_in)), dtype=np.int64)
    xmax = np.maximum(np.abs(xt.min - zp), np.abs(xt.max - zp))
    _check(node, "the accumulator", _pair_bound(w[:, :, None], xmax))
    if np.any(zp != 0):
        x = em.op("Sub", [x, em.const(f"{n}:zero_point", _exact_f64(node, "zero_point", zp))],
                  f"{n}:x", (c_in,))
    wname = em.const(f"{n}:weight", _exact_f64(node, "weight", w).T)
    em.dtypes[wname] = _int_dtype_name(int(w.min(initial=0)), int(w.max(initial=0)))
    em.op("MatMul", [x, wname], n, tuple(node.type.shape))


def _threshold(em: _Emitter, node: Node, v: str, vt: TensorType) -> None:
    n, shape, rank = node.name, tuple(vt.shape), len(vt.shape) + 1
    _check(node, "the input", float(_absmax(vt)) + 1)
    mt = {"domain": QONNX_DOMAIN, "out_dtype": f"UINT{int(node.attrs['bits'])}",
          "out_scale": 1.0, "out_bias": 0.0, "data_layout": "NCHW" if rank == 4 else "NC"}
    pos = em.const(f"{n}:pos", _exact_f64(node, "pos", node.arrays["pos"]))
    if "neg" not in node.arrays:
        em.op("MultiThreshold", [v, pos], n, shape, **mt)
        return
    neg = em.const(f"{n}:-neg", -_exact_f64(node, "neg", node.arrays["neg"]))
    bp = em.const(f"{n}:breakpoint",
                  _chan(_exact_f64(node, "breakpoint", node.arrays["breakpoint"]), rank))
    code_pos = em.op("MultiThreshold", [v, pos], f"{n}:pos_code", shape, **mt)
    minus_v = em.op("Neg", [v], f"{n}:-v", shape)
    code_neg = em.op("MultiThreshold", [minus_v, neg], f"{n}:neg_code", shape, **mt)
    cond = em.op("GreaterOrEqual", [v, bp], f"{n}:v>=breakpoint", shape, elem="bool")
    em.dtypes[code_pos] = em.dtypes[code_neg] = mt["out_dtype"]
    em.op("Where", [cond, code_pos, code_neg], n, shape)


def _clip(em: _Emitter, node: Node, x: str, shape: tuple[int, ...]) -> None:
    t, n = node.type, node.name
    em.op("Clip", [x, em.scalar(f"{n}:min", t.min), em.scalar(f"{n}:max", t.max)], n, shape)


def _requant(em: _Emitter, node: Node, v: str, vt: TensorType) -> None:
    n, shape, rank = node.name, tuple(vt.shape), len(vt.shape) + 1
    m = np.asarray(node.arrays["multiplier"], dtype=np.int64)
    b = np.asarray(node.arrays["bias"], dtype=np.int64)
    shift = int(node.attrs["shift"])
    bound = float((np.abs(m).astype(np.float64) * _absmax(vt) + np.abs(b)).max())
    _check(node, "v * multiplier + bias", bound)
    y = em.op("Mul", [v, em.const(f"{n}:multiplier", _chan(_exact_f64(node, "multiplier", m),
                                                          rank))], f"{n}:vm", shape)
    y = em.op("Add", [y, em.const(f"{n}:bias", _chan(_exact_f64(node, "bias", b), rank))],
              f"{n}:vm+b", shape)
    if shift:
        y = em.op("Mul", [y, em.scalar(f"{n}:2^-shift", 2.0**-shift)], f"{n}:scaled", shape)
        y = em.op("Floor", [y], f"{n}:floor", shape)
    _clip(em, node, y, shape)


def _align(em: _Emitter, node: Node, x: str, xt: TensorType, s: int, tag: str) -> str:
    n, shape = node.name, tuple(xt.shape)
    if s == 0:
        return x
    if s > 0:
        _check(node, f"{tag} << {s}", float(_absmax(xt)) * 2.0**s)
        return em.op("Mul", [x, em.scalar(f"{n}:{tag}:2^{s}", 2.0**s)], f"{n}:{tag}", shape)
    _check(node, f"{tag} + 2^{-s - 1}", float(_absmax(xt)) + 2.0 ** (-s - 1))
    y = em.op("Add", [x, em.scalar(f"{n}:{tag}:half", 2.0 ** (-s - 1))], f"{n}:{tag}:+half",
              shape)
    y = em.op("Mul", [y, em.scalar(f"{n}:{tag}:2^{s}", 2.0**s)], f"{n}:{tag}:scaled", shape)
    return em.op("Floor", [y], f"{n}:{tag}", shape)


def _add(em: _Emitter, node: Node, a: str, at: TensorType, b: str, bt: TensorType) -> None:
    sa, sb = int(node.attrs["shift_a"]), int(node.attrs["shift_b"])
    ya = _align(em, node, a, at, sa, "a")
    yb = _align(em, node, b, bt, sb, "b")

    def amax(t: TensorType, s: int) -> float:
        return float(_absmax(t)) * 2.0**s + 1

    _check(node, "a + b", amax(at, sa) + amax(bt, sb))
    shape = tuple(node.type.shape)
    _clip(em, node, em.op("Add", [ya, yb], f"{node.name}:sum", shape), shape)


def _rprelu(em: _Emitter, node: Node, x: str, xt: TensorType) -> None:
    n, shape, rank = node.name, tuple(xt.shape), len(xt.shape) + 1
    b1, slope, b2 = (np.asarray(node.arrays[k], dtype=np.int64)
                     for k in ("bias1", "slope", "bias2"))
    sa = int(node.attrs["slope_frac"])
    zmax = float(_absmax(xt)) + np.abs(b1).astype(np.float64)
    _check(node, "z * slope", float((zmax * np.abs(slope)).max()) + 2.0**sa)
    _check(node, "z + bias2", float((np.maximum(zmax, zmax * np.abs(slope) * 2.0**-sa + 1)
                                     + np.abs(b2)).max()))
    z = em.op("Add", [x, em.const(f"{n}:bias1", _chan(_exact_f64(node, "bias1", b1), rank))],
              f"{n}:z", shape)
    neg = em.op("Mul", [z, em.const(f"{n}:slope", _chan(_exact_f64(node, "slope", slope),
                                                        rank))], f"{n}:z*slope", shape)
    if sa:
        neg = em.op("Add", [neg, em.scalar(f"{n}:half", 2.0 ** (sa - 1))], f"{n}:z*slope+half",
                    shape)
        neg = em.op("Mul", [neg, em.scalar(f"{n}:2^-slope_frac", 2.0**-sa)], f"{n}:neg_scaled",
                    shape)
        neg = em.op("Floor", [neg], f"{n}:neg", shape)
    cond = em.op("GreaterOrEqual", [z, em.scalar(f"{n}:zero", 0.0)], f"{n}:z>=0", shape,
                 elem="bool")
    y = em.op("Where", [cond, z, neg], f"{n}:act", shape)
    y = em.op("Add", [y, em.const(f"{n}:bias2", _chan(_exact_f64(node, "bias2", b2), rank))],
              f"{n}:act+bias2", shape)
    _clip(em, node, y, shape)


def _maxpool(em: _Emitter, node: Node, x: str, xt: TensorType) -> None:
    k, s, p = (int(node.attrs[a]) for a in ("kernel", "stride", "padding"))
    em.op("MaxPool", [x], node.name, tuple(node.type.shape), kernel_shape=[k, k],
          strides=[s, s], pads=[p, p, p, p])


def _avgpool_sum(em: _Emitter, node: Node, x: str, xt: TensorType) -> None:
    c, h, w = xt.shape
    _check(node, "the sum", float(_absmax(xt)) * h * w)
    axes = em.const(f"{node.name}:axes", np.array([2, 3]), "int64")
    em.op("ReduceSum", [x, axes], node.name, (c,), keepdims=0)


_OPS = {"conv2d": _conv2d, "linear": _linear, "threshold": _threshold, "requant": _requant,
        "add": _add, "rprelu": _rprelu, "maxpool": _maxpool, "avgpool_sum": _avgpool_sum}


# ----------------------------------------------------------------------------- model


def to_onnx(graph: Graph, *, batch: int = 1) -> Any:
    """The ``onnx.ModelProto`` computing ``graph`` on a fixed batch of ``batch`` samples.

    Graph input: the IR input node's name, ``[batch, *shape]`` (float32 pixel values 0..255
    for an image). Graph output: the IR output node's name, float64 integers. Raises
    :class:`~n2uq_hw.errors.N2UQError` naming the node for anything that cannot be exported
    exactly.
    """
    from n2uq_hw.ir.validate import validate

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        fail(f"batch must be a positive integer, got {batch!r}")
    validate(graph)
    if graph.node(graph.output).op == "input":
        fail("the graph's output is its input node; nothing to export")
    em = _Emitter(batch)
    helper = em.onnx.helper
    nodes = {n.name: n for n in graph.nodes}
    inputs: list[Any] = []
    for node in graph.nodes:
        em.dtypes[node.name] = ("UINT8" if node.type.kind == "image"
                                else _type_dtype_name(node.type))
        if node.op == "input":
            t = node.type
            inputs.append(helper.make_tensor_value_info(
                node.name, em.TP.FLOAT if _absmax(t) < F32_EXACT_LIMIT else em.TP.DOUBLE,
                [batch, *t.shape]))
            em.dtypes[f"{node.name}:f64"] = em.dtypes[node.name]
            em.op("Cast", [node.name], f"{node.name}:f64", tuple(t.shape), to=em.TP.DOUBLE)
            continue
        args: list[Any] = []  # (tensor, type) per input; consumers read the float64 view
        for name in node.inputs:
            args += [f"{name}:f64" if nodes[name].op == "input" else name, nodes[name].type]
        _OPS[node.op](em, node, *args)
    names = [i.name for i in em.inits] + [i.name for i in inputs] + list(em.infos)
    dups = sorted(k for k, v in Counter(names).items() if v > 1)
    if dups:
        dup = dups[0]
        fail(f"tensor name {dup!r} is used twice in the ONNX graph (an IR node name that "
             "looks like an exporter-generated 'node:part' name)")
    out_t = nodes[graph.output].type
    outputs = [helper.make_tensor_value_info(graph.output, em.TP.DOUBLE,
                                             [batch, *out_t.shape])]
    infos = [helper.make_tensor_value_info(name, elem, list(shape))
             for name, (elem, shape) in em.infos.items() if name != graph.output]
    g = helper.make_graph(em.nodes, graph.model, inputs, outputs, initializer=em.inits,
                          value_info=infos)
    for name, dt in em.dtypes.items():
        ann = em.onnx.TensorAnnotation(tensor_name=name)
        ann.quant_parameter_tensor_names.append(
            em.onnx.StringStringEntryProto(key="finn_datatype", value=dt))
        g.quantization_annotation.append(ann)
    model = helper.make_model(
        g, producer_name="n2uq-hw", ir_version=8,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(QONNX_DOMAIN, 1)],
        doc_string=f"n2uq-hw integer IR of {graph.model} (docs/IR.md), exported exactly: "
                   "integers in float64 tensors, Conv in float32 digits below 2^24")
    helper.set_model_props(model, {"n2uq_hw.model": graph.model, "n2uq_hw.input": graph.input,
                                   "n2uq_hw.output": graph.output,
                                   "n2uq_hw.batch": str(batch)})
    return model


def export_onnx(graph: Graph, path: str | Path, *, batch: int = 1) -> Path:
    """Write ``to_onnx(graph, batch=batch)`` to ``path`` after ``onnx.checker.check_model``."""
    onnx = _onnx()
    model = to_onnx(graph, batch=batch)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug in this exporter, not the user's
        raise RuntimeError(f"exported ONNX model fails onnx.checker: {exc}") from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
