"""Golden model (n2uq_hw/reference.py) against slow pure-Python loops written from docs/IR.md.

The loops below use Python integers (unbounded, ``//`` is floor division) and touch nothing
of reference.py but its public ``run_ir``/``float_view``. Graphs are built directly (no
validator): the input node may declare any type, so each op is fed the values it expects.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2uq_hw.ir.graph import Graph, Node, TensorType
from n2uq_hw.reference import IRExecutionError, float_view, run_ir

SEEDS = range(20)

# ----------------------------------------------------------------------------- builders


def ty(kind: str, bits: int, shape, *, frac: int = 0, scale: float | None = None) -> TensorType:
    signed = kind in ("acc", "fixed")
    return TensorType(kind, signed, bits, tuple(shape), frac, scale)


def graph(in_type: TensorType, *nodes: Node) -> Graph:
    """``x`` (an input node of ``in_type``) followed by ``nodes``; the last one is the output."""
    return Graph("t", [Node("x", "input", [], in_type), *nodes], "x", nodes[-1].name)


def run1(in_type: TensorType, node: Node, x: np.ndarray) -> list:
    """Run one node on the batch ``x``; return its output as nested Python ints."""
    out = run_ir(graph(in_type, node), torch.from_numpy(np.asarray(x, dtype=np.int64)))
    got = out[node.name]
    assert got.dtype == torch.int64
    return got.tolist()


def acc_bits(bound: int) -> int:
    return math.ceil(math.log2(bound + 1)) + 1


def rand_in(rng: np.random.Generator, t: TensorType, batch: int = 2) -> np.ndarray:
    return rng.integers(t.min, t.max + 1, size=(batch, *t.shape), dtype=np.int64)


# ----------------------------------------------------------------------------- docs/IR.md in Python


def py_floor_div(a: int, s: int) -> int:
    return a // 2**s


def py_round_shift(a: int, s: int) -> int:
    return a if s == 0 else py_floor_div(a + 2 ** (s - 1), s)


def py_sat(v: int, bits: int) -> int:
    return max(-(2 ** (bits - 1)), min(2 ** (bits - 1) - 1, v))


def py_conv2d(x, w, zp, k, s, p):
    xl, wl = np.asarray(x).tolist(), np.asarray(w).tolist()
    n_in, h, wd = len(xl), len(xl[0]), len(xl[0][0])
    zl = [0] * n_in if zp is None else [int(z) for z in zp]
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    out = []
    for o in range(len(wl)):
        plane = []
        for y in range(oh):
            row = []
            for xx in range(ow):
                acc = 0
                for i in range(n_in):
                    for ky in range(k):
                        iy = y * s + ky - p
                        if not 0 <= iy < h:
                            continue  # x' = 0 at padded positions
                        for kx in range(k):
                            ix = xx * s + kx - p
                            if 0 <= ix < wd:
                                acc += wl[o][i][ky][kx] * (xl[i][iy][ix] - zl[i])
                row.append(acc)
            plane.append(row)
        out.append(plane)
    return out


def py_linear(x, w, zp):
    xl, wl = np.asarray(x).reshape(-1).tolist(), np.asarray(w).tolist()
    zl = [0] * len(xl) if zp is None else [int(z) for z in zp]
    return [sum(wl[o][i] * (xl[i] - zl[i]) for i in range(len(xl))) for o in range(len(wl))]


def per_elem(x, f):
    """Apply ``f(channel, value)`` to every element of one sample ``[C, ...]``."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(x.shape):
        out[idx] = f(idx[0], int(x[idx]))
    return out.tolist()


def py_threshold(v, pos, neg=None, bp=None):
    def code(c, val):
        if neg is None or val >= int(bp[c]):
            return sum(1 for t in pos[c] if val >= int(t))
        return sum(1 for t in neg[c] if val <= int(t))
    return per_elem(v, code)


def py_requant(v, mult, bias, shift, bits):
    return per_elem(v, lambda c, a: py_sat(py_floor_div(a * int(mult[c]) + int(bias[c]), shift),
                                           bits))


def py_align(v: int, s: int) -> int:
    return v * 2**s if s >= 0 else py_round_shift(v, -s)


def py_add(a, b, sa, sb, bits):
    a, b = np.asarray(a), np.asarray(b)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = py_sat(py_align(int(a[idx]), sa) + py_align(int(b[idx]), sb), bits)
    return out.tolist()


def py_rprelu(x, b1, slope, b2, sa, bits):
    def f(c, v):
        z = v + int(b1[c])
        if z < 0:
            z = py_round_shift(z * int(slope[c]), sa)
        return py_sat(z + int(b2[c]), bits)
    return per_elem(x, f)


def py_maxpool(x, k, s, p):
    xl = np.asarray(x).tolist()
    h, wd = len(xl[0]), len(xl[0][0])
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    out = []
    for plane in xl:
        rows = []
        for y in range(oh):
            row = []
            for xx in range(ow):
                vals = [plane[y * s + ky - p][xx * s + kx - p]
                        for ky in range(k) for kx in range(k)
                        if 0 <= y * s + ky - p < h and 0 <= xx * s + kx - p < wd]
                row.append(max(vals))  # padded positions are ignored
            rows.append(row)
        out.append(rows)
    return out


def py_avgpool_sum(x):
    return [sum(sum(r) for r in plane) for plane in np.asarray(x).tolist()]


def test_python_reference_conventions():
    assert py_floor_div(-5, 1) == -3 and py_floor_div(5, 1) == 2 and py_floor_div(-1, 4) == -1
    assert py_round_shift(-3, 1) == -1 and py_round_shift(-1, 1) == 0 and py_round_shift(5, 1) == 3
    assert py_sat(200, 8) == 127 and py_sat(-200, 8) == -128


# ----------------------------------------------------------------------------- conv2d


def conv_node(w, k, s, p, in_type, zp=None, fmt="odd", name="c"):
    n_in, h, wd = in_type.shape
    lo, hi = in_type.min, in_type.max
    zl = np.zeros(n_in, np.int64) if zp is None else np.asarray(zp)
    xabs = [max(abs(lo - int(z)), abs(hi - int(z))) for z in zl]
    bound = max(sum(int(abs(w[o, i]).sum()) * xabs[i] for i in range(n_in))
                for o in range(w.shape[0]))
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    arrays = {"weight": w}
    if zp is not None:
        arrays["zero_point"] = np.asarray(zp, np.int64)
    attrs = {"kernel": k, "stride": s, "padding": p, "acc_bound": bound,
             "weight_format": fmt, "weight_bits": 8 if fmt == "int8" else 2}
    return Node(name, "conv2d", ["x"], ty("acc", acc_bits(bound), (w.shape[0], oh, ow)), attrs,
                arrays)


def odd_weights(rng, shape, b=2):
    n = 2**b - 1
    return (2 * rng.integers(0, n + 1, size=shape) - n).astype(np.int8)


def int8_weights(rng, shape):
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def check_conv(in_type, w, k, s, p, zp, x):
    node = conv_node(w, k, s, p, in_type, zp)
    got = run1(in_type, node, x)
    assert got == [py_conv2d(xb, w, zp, k, s, p) for xb in x]
    return got


@pytest.mark.parametrize("k,s,p", [(1, 1, 0), (1, 2, 0), (3, 1, 0), (3, 1, 1), (3, 2, 1),
                                   (3, 2, 0), (7, 2, 3), (7, 1, 3), (5, 2, 2)])
def test_conv2d_shapes_odd_weights_zero_point(k, s, p):
    rng = np.random.default_rng(100 + k * 10 + s + p)
    in_type = ty("code", 2, (3, 9, 8), scale=0.5)
    w = odd_weights(rng, (4, 3, k, k))
    check_conv(in_type, w, k, s, p, np.array([1, 2, 0]), rand_in(rng, in_type))


def test_conv2d_first_layer_int8_image():
    rng = np.random.default_rng(1)
    in_type = ty("image", 8, (3, 15, 14))
    w = int8_weights(rng, (5, 3, 7, 7))
    check_conv(in_type, w, 7, 2, 3, None, rand_in(rng, in_type))
    check_conv(in_type, w, 7, 2, 3, np.array([128, 120, 100]), rand_in(rng, in_type))


def test_conv2d_padding_is_zero_in_the_shifted_domain():
    # x == zero_point everywhere: x' = 0 inside and 0 at the padding, so acc == 0
    in_type = ty("code", 2, (2, 5, 5), scale=1.0)
    w = np.ones((1, 2, 3, 3), np.int8)
    x = np.stack([np.full((5, 5), 2), np.full((5, 5), 1)])[None]
    got = check_conv(in_type, w, 3, 1, 1, np.array([2, 1]), x)
    assert got == [[[[0] * 5] * 5]]
    # x' = 1 everywhere: a 3x3 box filter of ones over 2 channels counts the real positions
    got = check_conv(in_type, w, 3, 1, 1, np.array([1, 0]), x)
    assert got[0][0][0][:3] == [8, 12, 12] and got[0][0][2][2] == 18


@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_random(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.choice([1, 3, 5, 7]))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, k // 2 + 2))
    n_in, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    h, wd = int(rng.integers(max(1, k - 2 * p), 9)), int(rng.integers(max(1, k - 2 * p), 9))
    kind = str(rng.choice(["image", "code", "fixed"]))
    bits = {"image": 8, "code": int(rng.integers(1, 5)), "fixed": int(rng.integers(4, 17))}[kind]
    in_type = ty(kind, bits, (n_in, h, wd), scale=0.25 if kind == "code" else None)
    zp = rng.integers(0, 2**bits, size=n_in) if kind != "fixed" and seed % 2 else None
    w = odd_weights(rng, (n_out, n_in, k, k)) if seed % 3 else int8_weights(rng, (n_out, n_in,
                                                                                k, k))
    check_conv(in_type, w, k, s, p, zp, rand_in(rng, in_type))


def test_conv2d_exact_beyond_float64_mantissa():
    # |partial sums| up to ~2^61: the executor must not lose a bit (float64 would)
    rng = np.random.default_rng(7)
    in_type = ty("fixed", 51, (2, 5, 5))
    w = int8_weights(rng, (3, 2, 3, 3))
    x = rand_in(rng, in_type) | 1  # odd values, so low bits matter
    got = check_conv(in_type, w, 3, 1, 1, None, x)
    assert max(abs(v) for v in np.asarray(got).reshape(-1).tolist()) > 2**53


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_int64_path_in_chunks(seed, monkeypatch):
    # the exact int64 im2col path, forced for ordinary values and split into many chunks
    from n2uq_hw import reference

    monkeypatch.setattr(reference, "F64_EXACT_LIMIT", 0)
    monkeypatch.setattr(reference, "_CHUNK_ELEMENTS", 1 + seed * 50)
    rng = np.random.default_rng(300 + seed)
    k, s, p = [(3, 2, 1), (7, 2, 3), (1, 1, 0), (3, 1, 2)][seed]
    in_type = ty("code", 2, (3, 9, 7), scale=1.0)
    check_conv(in_type, odd_weights(rng, (4, 3, k, k)), k, s, p, np.array([1, 0, 3]),
               rand_in(rng, in_type, 3))


def test_conv2d_refuses_int64_overflow():
    in_type = ty("fixed", 62, (2, 3, 3))
    w = np.full((1, 2, 3, 3), 127, np.int8)
    node = Node("c", "conv2d", ["x"], ty("acc", 63, (1, 3, 3)),
                {"kernel": 3, "stride": 1, "padding": 1, "acc_bound": 2**62}, {"weight": w})
    x = torch.full((1, 2, 3, 3), 2**60, dtype=torch.int64)
    with pytest.raises(IRExecutionError, match="'c'.*2\\^62"):
        run_ir(graph(in_type, node), x)


# ----------------------------------------------------------------------------- linear


def linear_node(w, in_type, zp=None):
    n_in = w.shape[1]
    zl = np.zeros(n_in, np.int64) if zp is None else np.asarray(zp)
    bound = max(sum(abs(int(w[o, i])) * max(abs(in_type.min - int(zl[i])),
                                            abs(in_type.max - int(zl[i])))
                    for i in range(n_in)) for o in range(w.shape[0]))
    arrays = {"weight": w} | ({} if zp is None else {"zero_point": np.asarray(zp, np.int64)})
    return Node("fc", "linear", ["x"], ty("acc", acc_bits(bound), (w.shape[0],)),
                {"acc_bound": bound, "weight_format": "int8", "weight_bits": 8}, arrays)


def test_linear_flat_and_c11_inputs():
    w = np.array([[1, -2, 3], [-128, 127, 0]], np.int8)
    zp = np.array([1, 0, 2])
    x = np.array([[3, 1, 2], [0, 3, 3]])
    want = [py_linear(xb, w, zp) for xb in x]
    assert want[0] == [1 * 2 - 2 * 1 + 0, -128 * 2 + 127]
    t1 = ty("code", 2, (3,), scale=1.0)
    assert run1(t1, linear_node(w, t1, zp), x) == want
    t2 = ty("code", 2, (3, 1, 1), scale=1.0)
    assert run1(t2, linear_node(w, t2, zp), x.reshape(2, 3, 1, 1)) == want


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_random(seed):
    rng = np.random.default_rng(1000 + seed)
    n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    kind = "acc" if seed % 2 else "code"
    bits = int(rng.integers(8, 30)) if kind == "acc" else int(rng.integers(1, 5))
    shape = (n_in,) if seed % 4 < 2 else (n_in, 1, 1)
    in_type = ty(kind, bits, shape, scale=1.0)
    w = int8_weights(rng, (n_out, n_in))
    zp = rng.integers(0, 2**bits, size=n_in) if kind == "code" and seed % 3 else None
    x = rand_in(rng, in_type, 3)
    assert run1(in_type, linear_node(w, in_type, zp), x) == [py_linear(xb, w, zp) for xb in x]


# ----------------------------------------------------------------------------- threshold


def threshold_node(in_type, pos, neg=None, bp=None, bits=2):
    arrays = {"pos": np.asarray(pos, np.int64)}
    if neg is not None:
        arrays |= {"neg": np.asarray(neg, np.int64), "breakpoint": np.asarray(bp, np.int64)}
    return Node("t", "threshold", ["x"], ty("code", bits, in_type.shape, scale=0.5),
                {"bits": bits}, arrays)


def test_threshold_ties_beyond_range_and_equal_thresholds():
    in_type = ty("fixed", 8, (3, 1, 6))
    pos = [[-2, 0, 5],          # ties exactly at thresholds
           [-1000, 3, 1000],    # thresholds beyond the reachable range (always / never fire)
           [4, 4, 4]]           # equal adjacent thresholds: all or nothing
    x = np.array([[[-3, -2, -1, 0, 5, 6]],
                  [[-128, 0, 2, 3, 127, 4]],
                  [[3, 4, 5, -128, 127, 0]]])[None]
    got = run1(in_type, threshold_node(in_type, pos), x)
    assert got == [py_threshold(x[0], pos)]
    assert got == [[[[0, 1, 1, 2, 3, 3]], [[1, 1, 1, 2, 2, 2]], [[0, 3, 3, 0, 3, 0]]]]


def test_threshold_two_sided_breakpoint():
    in_type = ty("acc", 10, (2, 7))
    pos = [[2, 4, 6], [-5, 0, 5]]
    neg = [[-2, -4, -6], [9, 9, 9]]
    bp = [0, -(2**62)]  # channel 1 is monotone (breakpoint = -2^62)
    x = np.array([[[-7, -6, -3, -1, 0, 1, 6], [-512, -5, -1, 0, 4, 5, 511]]])
    got = run1(in_type, threshold_node(in_type, pos, neg, bp), x)
    assert got == [py_threshold(x[0], pos, neg, bp)]
    # v == breakpoint takes the pos side (0 >= pos? none fire); below it, count v <= neg
    assert got == [[[3, 3, 1, 0, 0, 0, 3], [0, 1, 1, 2, 2, 3, 3]]]


def test_threshold_unsorted_rows_count_comparisons():
    # IR rows are monotone; the definition (a count) is still what the executor computes
    in_type = ty("fixed", 6, (1, 5))
    pos, neg, bp = [[3, -1, 0]], [[-3, 1, -5]], [0]
    x = np.array([[[-6, -3, 0, 1, 3]]])
    assert run1(in_type, threshold_node(in_type, pos, neg, bp), x) == \
        [py_threshold(x[0], pos, neg, bp)]


@pytest.mark.parametrize("seed", SEEDS)
def test_threshold_random(seed):
    rng = np.random.default_rng(2000 + seed)
    bits = int(rng.integers(1, 5))
    n = 2**bits - 1
    c = int(rng.integers(1, 5))
    shape = (c, int(rng.integers(1, 5)), int(rng.integers(1, 5))) if seed % 3 else (c,)
    in_type = ty("acc" if seed % 2 else "fixed", int(rng.integers(3, 9)), shape)
    lo, hi = in_type.min, in_type.max
    # thresholds from a range a bit wider than v's, so ties and out-of-range ones both occur
    pos = np.sort(rng.integers(lo - 3, hi + 4, size=(c, n)), axis=1)
    neg = bp = None
    if seed % 4 >= 2:
        neg = -np.sort(-rng.integers(lo - 3, hi + 4, size=(c, n)), axis=1)
        bp = rng.integers(lo, hi + 1, size=c)
        bp[0] = -(2**62)
    x = rand_in(rng, in_type, 3)
    for ci in range(c):  # put values exactly on (clipped) thresholds and on the breakpoint
        xc = x[:, ci].reshape(-1)
        ties = np.clip(np.concatenate([pos[ci], [] if neg is None else [*neg[ci], bp[ci]]]),
                       lo, hi)
        m = min(xc.size, ties.size)
        xc[:m] = ties[:m]
        x[:, ci] = xc.reshape(x[:, ci].shape)
    got = run1(in_type, threshold_node(in_type, pos, neg, bp, bits), x)
    assert got == [py_threshold(xb, pos, neg, bp) for xb in x]


# ----------------------------------------------------------------------------- requant


def requant_node(in_type, mult, bias, shift, bits, frac=4):
    return Node("r", "requant", ["x"], ty("fixed", bits, in_type.shape, frac=frac),
                {"shift": shift, "bits": bits, "frac": frac},
                {"multiplier": np.asarray(mult, np.int64), "bias": np.asarray(bias, np.int64)})


def test_requant_floor_rounding_and_saturation():
    in_type = ty("acc", 12, (3, 4))
    x = np.array([[[-5, -4, 5, 3], [-5, -3, 5, 3], [2000, -2000, 1, -1]]])
    node = requant_node(in_type, [1, 1, 1], [0, 1, 0], 1, 8)
    got = run1(in_type, node, x)
    assert got == [py_requant(x[0], [1, 1, 1], [0, 1, 0], 1, 8)]
    assert got[0][0] == [-3, -2, 2, 1]    # floor: -5 >> 1 == -3
    assert got[0][1] == [-2, -1, 3, 2]    # bias 2^(S-1): round half up
    assert got[0][2] == [127, -128, 0, -1]  # saturation at both ends
    node0 = requant_node(in_type, [3, -2, 1], [-7, 0, 5], 0, 16)  # shift 0
    assert run1(in_type, node0, x) == [py_requant(x[0], [3, -2, 1], [-7, 0, 5], 0, 16)]


@pytest.mark.parametrize("seed", SEEDS)
def test_requant_random(seed):
    rng = np.random.default_rng(3000 + seed)
    c = int(rng.integers(1, 6))
    shape = (c, int(rng.integers(1, 5)), int(rng.integers(1, 5))) if seed % 2 else (c,)
    in_type = ty("acc" if seed % 3 else "fixed", int(rng.integers(4, 30)), shape)
    shift = int(rng.integers(0, 40))
    mult = rng.integers(-(2**20), 2**20, size=c)
    bias = rng.integers(-(2**45), 2**45, size=c)
    bits = int(rng.integers(2, 20))
    x = rand_in(rng, in_type, 3)
    got = run1(in_type, requant_node(in_type, mult, bias, shift, bits), x)
    assert got == [py_requant(xb, mult, bias, shift, bits) for xb in x]


# ----------------------------------------------------------------------------- add


def add_graph(ta, tb, sa, sb, bits):
    node = Node("y", "add", ["x", "b"], ty("fixed", bits, ta.shape, frac=4),
                {"shift_a": sa, "shift_b": sb, "bits": bits, "frac": 4})
    # second input: a requant with multiplier 1, bias 0, shift 0 of the same values
    # (the graph has one input), saturated to tb's width
    c = ta.shape[0]
    ident = Node("b", "requant", ["x"], tb, {"shift": 0, "bits": tb.bits, "frac": tb.frac},
                 {"multiplier": np.ones(c, np.int64), "bias": np.zeros(c, np.int64)})
    return graph(ta, ident, node)


def run_add(ta, tb, sa, sb, bits, x):
    out = run_ir(add_graph(ta, tb, sa, sb, bits), torch.from_numpy(np.asarray(x, np.int64)))
    a = x
    b = [per_elem(xb, lambda c, v: py_sat(v, tb.bits)) for xb in x]
    assert out["b"].tolist() == b
    want = [py_add(ab, bb, sa, sb, bits) for ab, bb in zip(a, b)]
    assert out["y"].tolist() == want
    return want


@pytest.mark.parametrize("sa,sb", [(0, 0), (2, 0), (0, -1), (-1, -3), (3, -2), (-4, 1)])
def test_add_shifts(sa, sb):
    t = ty("fixed", 8, (2, 9))
    x = np.array([[[-128, -5, -3, -2, -1, 0, 1, 3, 127], [5, 6, 7, 8, -7, -8, -9, 100, -100]]])
    run_add(t, t, sa, sb, 12, x)


def test_add_round_half_up_and_saturation():
    t = ty("fixed", 8, (1, 6))
    x = np.array([[[-3, -1, 1, 3, 127, -128]]])
    # b = x; a aligned by 0, b by round_shift(., 1): -3 -> -1, -1 -> 0, 1 -> 1, 3 -> 2
    assert run_add(t, t, 0, -1, 16, x) == [[[-4, -1, 2, 5, 191, -192]]]
    assert run_add(t, t, 1, 1, 9, x) == [[[-12, -4, 4, 12, 255, -256]]]


@pytest.mark.parametrize("seed", SEEDS)
def test_add_random(seed):
    rng = np.random.default_rng(4000 + seed)
    c = int(rng.integers(1, 4))
    shape = (c, int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    ta = ty("fixed", int(rng.integers(4, 24)), shape, frac=4)
    tb = ty("fixed", int(rng.integers(3, ta.bits + 1)), shape, frac=4)
    sa, sb = (int(v) for v in rng.integers(-8, 9, size=2))
    run_add(ta, tb, sa, sb, int(rng.integers(3, 30)), rand_in(rng, ta, 3))


# ----------------------------------------------------------------------------- rprelu


def rprelu_node(in_type, b1, slope, b2, sa, bits):
    return Node("p", "rprelu", ["x"], ty("fixed", bits, in_type.shape, frac=in_type.frac),
                {"slope_frac": sa, "bits": bits},
                {"bias1": np.asarray(b1, np.int64), "slope": np.asarray(slope, np.int64),
                 "bias2": np.asarray(b2, np.int64)})


def test_rprelu_slopes_rounding_and_late_saturation():
    in_type = ty("fixed", 8, (4, 7), frac=4)
    x = np.array([[-128, -7, -3, -1, 0, 1, 127]] * 4)[None]
    b1, slope, b2, sa = [0, 0, 2, 100], [3, 0, -5, 4], [0, 1, -1, -100], 2
    got = run1(in_type, rprelu_node(in_type, b1, slope, b2, sa, 8), x)
    assert got == [py_rprelu(x[0], b1, slope, b2, sa, 8)]
    # slope 3/4: z=-7 -> round(-21/4) = floor((-21 + 2) / 4) = -5; z=-3 -> floor(-7/4) = -2
    assert got[0][0] == [-96, -5, -2, -1, 0, 1, 127]
    assert got[0][1] == [1, 1, 1, 1, 1, 2, 127]  # zero slope: negatives -> 0, then + bias2
    # negative slope -5/4 after bias1 = 2: z=-5 -> floor((25 + 2) / 4) = 6, then bias2 = -1
    assert got[0][2] == [127, 5, 0, 0, 1, 2, 127]
    # channel 3 (slope 1): z = 127 + 100 does not fit 8 bits, but only the final value
    # saturates (saturating z first would give 127 - 100 = 27); -128 + 100 < 0 takes the slope
    assert got[0][3] == [-128, -7, -3, -1, 0, 1, 127]


@pytest.mark.parametrize("seed", SEEDS)
def test_rprelu_random(seed):
    rng = np.random.default_rng(5000 + seed)
    c = int(rng.integers(1, 5))
    shape = (c, int(rng.integers(1, 5)), int(rng.integers(1, 5))) if seed % 3 else (c,)
    in_type = ty("fixed", int(rng.integers(4, 20)), shape, frac=int(rng.integers(0, 8)))
    sa = int(rng.integers(0, 12))
    lim = 2 ** (in_type.bits - 1)
    b1, b2 = rng.integers(-lim, lim, size=c), rng.integers(-lim, lim, size=c)
    slope = rng.integers(-(2**sa) * 2, 2**sa * 2 + 1, size=c)
    slope[0] = 0 if seed % 4 == 0 else slope[0]
    bits = int(rng.integers(3, in_type.bits + 3))
    x = rand_in(rng, in_type, 3)
    got = run1(in_type, rprelu_node(in_type, b1, slope, b2, sa, bits), x)
    assert got == [py_rprelu(xb, b1, slope, b2, sa, bits) for xb in x]


# ----------------------------------------------------------------------------- maxpool


def maxpool_node(in_type, k, s, p):
    c, h, w = in_type.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    t = TensorType(in_type.kind, in_type.signed, in_type.bits, (c, oh, ow), in_type.frac,
                   in_type.scale)
    return Node("m", "maxpool", ["x"], t, {"kernel": k, "stride": s, "padding": p})


def test_maxpool_padding_never_wins():
    in_type = ty("fixed", 8, (1, 4, 4))
    x = -np.arange(1, 17).reshape(1, 1, 4, 4) * 5  # every real value negative
    got = run1(in_type, maxpool_node(in_type, 3, 2, 1), x)
    assert got == [py_maxpool(x[0], 3, 2, 1)] == [[[[-5, -10], [-25, -30]]]]


@pytest.mark.parametrize("seed", SEEDS)
def test_maxpool_random(seed):
    rng = np.random.default_rng(6000 + seed)
    k = int(rng.integers(1, 4))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, k // 2 + 1))
    shape = (int(rng.integers(1, 4)), int(rng.integers(k, 9)), int(rng.integers(k, 9)))
    in_type = (ty("code", int(rng.integers(1, 5)), shape, scale=0.1) if seed % 2
               else ty("fixed", int(rng.integers(3, 16)), shape, frac=3))
    x = rand_in(rng, in_type, 2)
    if seed % 4 == 0:
        x = np.minimum(-np.abs(x.clip(in_type.min + 1)), -1) if in_type.signed else x
    assert run1(in_type, maxpool_node(in_type, k, s, p), x) == [py_maxpool(xb, k, s, p)
                                                                for xb in x]


# ----------------------------------------------------------------------------- avgpool_sum


def avgpool_node(in_type):
    c, h, w = in_type.shape
    extra = 0 if in_type.signed else 1  # a signed acc holding an unsigned sum needs a sign bit
    bits = in_type.bits + math.ceil(math.log2(h * w)) + extra
    return Node("g", "avgpool_sum", ["x"], ty("acc", bits, (c,)))


def test_avgpool_sum_small():
    in_type = ty("fixed", 8, (2, 2, 2))
    x = np.array([[[[1, -2], [3, 4]], [[-128, -128], [-128, -128]]]])
    assert run1(in_type, avgpool_node(in_type), x) == [[6, -512]]


@pytest.mark.parametrize("seed", SEEDS)
def test_avgpool_sum_random(seed):
    rng = np.random.default_rng(7000 + seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    in_type = (ty("code", int(rng.integers(1, 5)), shape, scale=0.3) if seed % 2
               else ty("fixed", int(rng.integers(3, 20)), shape, frac=5))
    x = rand_in(rng, in_type, 3)
    assert run1(in_type, avgpool_node(in_type), x) == [py_avgpool_sum(xb) for xb in x]


# ----------------------------------------------------------------------------- whole graphs


def small_net(rng):
    """image -> conv(int8) -> requant -> rprelu -> threshold -> conv(odd) -> requant -> add
    -> maxpool -> avgpool_sum -> linear, with consistent declared types."""
    img = ty("image", 8, (3, 8, 8))
    c1 = conv_node(int8_weights(rng, (4, 3, 3, 3)), 3, 2, 1, img, np.array([120, 110, 100]),
                   "int8", name="conv1")
    c1.inputs = ["x"]
    r1 = Node("rq1", "requant", ["conv1"], ty("fixed", 10, (4, 4, 4), frac=4),
              {"shift": 10, "bits": 10, "frac": 4},
              {"multiplier": rng.integers(50, 200, size=4), "bias": np.full(4, 512)})
    p1 = rprelu_node(ty("fixed", 10, (4, 4, 4), frac=4), [3, -2, 0, 1], [64, -32, 0, 16],
                     [0, 1, -1, 2], 7, 10)
    p1.name, p1.inputs = "act1", ["rq1"]
    t1 = Node("q1", "threshold", ["act1"], ty("code", 2, (4, 4, 4), scale=0.5), {"bits": 2},
              {"pos": np.sort(rng.integers(-60, 60, size=(4, 3)), 1)})
    code_t = ty("code", 2, (4, 4, 4), scale=0.5)
    c2 = conv_node(odd_weights(rng, (4, 4, 3, 3)), 3, 1, 1, code_t, np.array([1, 2, 1, 0]),
                   name="conv2")
    c2.inputs = ["q1"]
    r2 = Node("rq2", "requant", ["conv2"], ty("fixed", 10, (4, 4, 4), frac=4),
              {"shift": 2, "bits": 10, "frac": 4},
              {"multiplier": rng.integers(1, 9, size=4), "bias": np.full(4, 2)})
    a = Node("sum", "add", ["rq2", "act1"], ty("fixed", 12, (4, 4, 4), frac=4),
             {"shift_a": 0, "shift_b": -1, "bits": 12, "frac": 4})
    m = maxpool_node(ty("fixed", 12, (4, 4, 4), frac=4), 3, 2, 1)
    m.name, m.inputs = "pool", ["sum"]
    g = Node("gap", "avgpool_sum", ["pool"], ty("acc", 12 + 2, (4,)), {"acc_scale": [0.1] * 4})
    fc = Node("fc", "linear", ["gap"], ty("acc", 24, (5,)),
              {"acc_bound": 2**22, "weight_format": "int8", "weight_bits": 8},
              {"weight": int8_weights(rng, (5, 4))})
    nodes = [Node("x", "input", [], img), c1, r1, p1, t1, c2, r2, a, m, g, fc]
    return Graph("small", nodes, "x", "fc")


def py_node(n: Node, ins: list):
    """One sample of node ``n`` by the Python loops above."""
    x, a, k = ins[0], n.attrs, n.arrays
    if n.op == "conv2d":
        return py_conv2d(x, k["weight"], k.get("zero_point"), a["kernel"], a["stride"],
                         a["padding"])
    if n.op == "requant":
        return py_requant(x, k["multiplier"], k["bias"], a["shift"], a["bits"])
    if n.op == "rprelu":
        return py_rprelu(x, k["bias1"], k["slope"], k["bias2"], a["slope_frac"], a["bits"])
    if n.op == "threshold":
        return py_threshold(x, k["pos"], k.get("neg"), k.get("breakpoint"))
    if n.op == "add":
        return py_add(x, ins[1], a["shift_a"], a["shift_b"], a["bits"])
    if n.op == "maxpool":
        return py_maxpool(x, a["kernel"], a["stride"], a["padding"])
    if n.op == "avgpool_sum":
        return py_avgpool_sum(x)
    assert n.op == "linear"
    return py_linear(x, k["weight"], k.get("zero_point"))


def test_whole_graph_against_python_and_keep_false():
    rng = np.random.default_rng(42)
    gr = small_net(rng)
    imgs = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    out = run_ir(gr, imgs)
    assert list(out) == [n.name for n in gr.nodes]
    assert all(v.dtype == torch.int64 for v in out.values())
    for n in gr.nodes[1:]:
        ins = [out[i].numpy() for i in n.inputs]
        for bi in range(2):
            want = py_node(n, [v[bi] for v in ins])
            assert out[n.name][bi].tolist() == want, n.name
    only = run_ir(gr, imgs, keep=False)
    assert list(only) == ["fc"] and torch.equal(only["fc"], out["fc"])
    again = run_ir(gr, imgs.to(torch.int32), threads=1)
    assert all(torch.equal(again[n], out[n]) for n in out)  # deterministic


def test_threads_setting_is_restored():
    before = torch.get_num_threads()
    gr = small_net(np.random.default_rng(0))
    run_ir(gr, torch.zeros(1, 3, 8, 8, dtype=torch.uint8), threads=1)
    assert torch.get_num_threads() == before


def test_range_violation_names_node_values_and_range():
    in_type = ty("acc", 12, (1, 3))
    node = requant_node(in_type, [1], [0], 0, 12)
    node.type = ty("fixed", 6, (1, 3))  # declared 6 bits, produces up to 12 bits
    with pytest.raises(IRExecutionError,
                       match=r"'r' \(requant\).*\[-100, 200\].*\[-32, 31\]"):
        run1(in_type, node, np.array([[[-100, 0, 200]]]))
    node.type = ty("fixed", 12, (1, 4))
    with pytest.raises(IRExecutionError, match="'r'.*shape"):
        run1(in_type, node, np.array([[[-100, 0, 200]]]))


def test_input_range_and_type_checked():
    img = ty("image", 8, (3, 2, 2))
    gr = graph(img, Node("g", "avgpool_sum", ["x"], ty("acc", 11, (3,))))
    with pytest.raises(IRExecutionError, match="'x'.*256"):
        run_ir(gr, torch.full((1, 3, 2, 2), 256))
    with pytest.raises(IRExecutionError, match="integer"):
        run_ir(gr, torch.zeros(1, 3, 2, 2))
    gr.nodes[1].op = "softmax"
    with pytest.raises(IRExecutionError, match="unknown op"):
        run_ir(gr, torch.zeros(1, 3, 2, 2, dtype=torch.uint8))


# ----------------------------------------------------------------------------- float view


def test_float_view_each_kind():
    gr = small_net(np.random.default_rng(1))
    imgs = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    out = run_ir(gr, imgs)
    fv = float_view(gr, "x", out["x"])
    assert fv.dtype == torch.float64 and torch.equal(fv, imgs.double())
    assert torch.equal(float_view(gr, "q1", out["q1"]), out["q1"].double() * 0.5)
    assert torch.equal(float_view(gr, "rq1", out["rq1"]), out["rq1"].double() / 16)
    gr.node("conv1").attrs["acc_scale"] = [1.0, 0.5, 0.25, 2.0]
    got = float_view(gr, "conv1", out["conv1"])
    want = out["conv1"].double() * torch.tensor([1.0, 0.5, 0.25, 2.0]).view(1, 4, 1, 1)
    assert torch.equal(got, want)
    assert torch.equal(float_view(gr, "conv1", out["conv1"][1]), want[1])  # one sample
    assert torch.equal(float_view(gr, "gap", out["gap"]), out["gap"].double() * 0.1)
    with pytest.raises(IRExecutionError, match="acc_scale"):
        float_view(gr, "fc", out["fc"])
    gr.node("q1").type.scale = None
    with pytest.raises(IRExecutionError, match="scale"):
        float_view(gr, "q1", out["q1"])
