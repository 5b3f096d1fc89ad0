"""n2uq_hw.ir.validate: one mutation of a valid hand-built graph per rule of docs/IR.md."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from ir_fixtures import Builder, resnet18_like, small_graph

from n2uq_hw.errors import N2UQError
from n2uq_hw.ir.graph import Graph, Node, TensorType
from n2uq_hw.ir.validate import NEVER_BREAK, validate


def _n(g: Graph, name: str) -> Node:
    return g.node(name)


def _set_type(g: Graph, name: str, **kw) -> None:
    t = _n(g, name).type
    for k, v in kw.items():
        setattr(t, k, v)


def _swap(g: Graph, a: str, b: str) -> None:
    i, j = (g.nodes.index(_n(g, x)) for x in (a, b))
    g.nodes[i], g.nodes[j] = g.nodes[j], g.nodes[i]


def _second_input(g: Graph) -> None:
    g.nodes.insert(1, Node("in2", "input", [], TensorType("image", False, 8, (3, 8, 8))))


def _rebound(g: Graph, name: str, bound: int) -> None:
    """Set acc_bound and the matching output bits."""
    node = _n(g, name)
    node.attrs["acc_bound"] = bound
    node.type.bits = bound.bit_length() + 1


def _conv2_bound(g: Graph) -> int:
    return _n(g, "conv2").attrs["acc_bound"]


def _weight(g: Graph, name: str, idx: tuple, value: int, dtype=None) -> None:
    w = _n(g, name).arrays["weight"]
    if dtype is not None:
        w = w.astype(dtype)
    w[idx] = value
    _n(g, name).arrays["weight"] = w


def _pos(g: Graph, fn) -> None:
    node = _n(g, "act1")
    for k in ("pos", "neg", "breakpoint"):
        node.arrays[k] = node.arrays[k].copy()
    fn(node.arrays)


# (id, mutation, node named in the message, rule/words the message must contain)
CASES = [
    # graph structure
    ("duplicate name", lambda g: setattr(_n(g, "bn2"), "name", "bn1"), "'bn1'", "name"),
    ("unknown op", lambda g: setattr(_n(g, "pool"), "op", "avgpool"), "'pool'", "op"),
    ("input missing", lambda g: _n(g, "bn2").inputs.__setitem__(0, "nope"), "'bn2'",
     "'nope' is not a node"),
    ("input after user", lambda g: _swap(g, "bn2", "add1"), "'add1'", "comes later"),
    ("self input", lambda g: _n(g, "bn2").inputs.__setitem__(0, "bn2"), "'bn2'", "comes later"),
    ("second input node", _second_input, "'in2'", "exactly one"),
    ("graph.input wrong", lambda g: setattr(g, "input", "conv1"), "graph", "not an input node"),
    ("graph.output missing", lambda g: setattr(g, "output", "logits"), "graph",
     "output 'logits' is not a node"),
    ("no nodes", lambda g: setattr(g, "nodes", []), "graph", "non-empty"),
    ("meta not json", lambda g: g.meta.__setitem__("x", object()), "graph", "meta"),
    ("inputs not names", lambda g: setattr(_n(g, "bn2"), "inputs", [3]), "'bn2'", "inputs"),
    # schema
    ("arity add", lambda g: _n(g, "add1").inputs.pop(), "'add1'", "takes 2 input(s), got 1"),
    ("arity conv", lambda g: _n(g, "conv2").inputs.append("bn1"), "'conv2'", "takes 1"),
    ("arity input", lambda g: _n(g, "in").inputs.append("bn1"), "'in'", "takes 0"),
    ("missing attr", lambda g: _n(g, "conv2").attrs.pop("stride"), "'conv2'",
     "missing required attribute 'stride'"),
    ("unknown attr", lambda g: _n(g, "bn1").attrs.__setitem__("gain", 1), "'bn1'",
     "unknown attribute 'gain'"),
    ("bool attr", lambda g: _n(g, "pool").attrs.__setitem__("kernel", True), "'pool'",
     "kernel must be an integer"),
    ("float attr", lambda g: _n(g, "bn1").attrs.__setitem__("shift", 16.0), "'bn1'",
     "shift must be an integer"),
    ("numpy int attr", lambda g: _n(g, "bn1").attrs.__setitem__("shift", np.int64(16)), "'bn1'",
     "shift must be an integer"),
    ("source not str", lambda g: _n(g, "bn1").attrs.__setitem__("source", 5), "'bn1'",
     "source must be a string"),
    ("acc_scale length", lambda g: _n(g, "conv1").attrs.__setitem__("acc_scale", [1.0]),
     "'conv1'", "acc_scale"),
    ("acc_scale nan", lambda g: _n(g, "gap").attrs["acc_scale"].__setitem__(0, float("nan")),
     "'gap'", "acc_scale"),
    ("missing array", lambda g: _n(g, "bn1").arrays.pop("bias"), "'bn1'",
     "missing required array 'bias'"),
    ("unknown array", lambda g: _n(g, "conv2").arrays.__setitem__("bias", np.zeros(8, np.int64)),
     "'conv2'", "unknown array 'bias'"),
    ("array on input", lambda g: _n(g, "in").arrays.__setitem__("x", np.zeros(3, np.int64)),
     "'in'", "unknown array 'x'"),
    ("array not ndarray", lambda g: _n(g, "bn1").arrays.__setitem__("bias", [1] * 8), "'bn1'",
     "not a numpy array"),
    ("float weight", lambda g: _n(g, "conv2").arrays.__setitem__(
        "weight", _n(g, "conv2").arrays["weight"].astype(np.float32)), "'conv2'", "dtype"),
    ("uint8 weight", lambda g: _n(g, "conv1").arrays.__setitem__(
        "weight", np.abs(_n(g, "conv1").arrays["weight"].astype(np.int16)).astype(np.uint8)),
     "'conv1'", "dtype"),
    ("int32 thresholds", lambda g: _n(g, "act1").arrays.__setitem__(
        "pos", _n(g, "act1").arrays["pos"].astype(np.int32)), "'act1'", "must be int64"),
    ("neg without breakpoint", lambda g: _n(g, "act1").arrays.pop("breakpoint"), "'act1'",
     "'neg' and 'breakpoint'"),
    # types
    ("kind unknown", lambda g: _set_type(g, "bn1", kind="float"), "'bn1'", "type: kind"),
    ("bits 0", lambda g: _set_type(g, "bn1", bits=0), "'bn1'", "bits = 0"),
    ("bits 65", lambda g: _set_type(g, "bn1", bits=65), "'bn1'", "1..64"),
    ("shape 2-D", lambda g: _set_type(g, "bn1", shape=(8, 64)), "'bn1'", "type: shape"),
    ("shape zero", lambda g: _set_type(g, "bn1", shape=(8, 0, 8)), "'bn1'", "type: shape"),
    ("signed not bool", lambda g: _set_type(g, "bn1", signed=1), "'bn1'", "signed"),
    ("code signed", lambda g: _set_type(g, "act1", signed=True), "'act1'", "unsigned"),
    ("acc unsigned", lambda g: _set_type(g, "conv1", signed=False), "'conv1'", "signed"),
    ("fixed unsigned", lambda g: _set_type(g, "bn1", signed=False), "'bn1'", "signed"),
    ("image 16 bit", lambda g: _set_type(g, "in", bits=16), "'in'", "unsigned 8-bit [3, H, W]"),
    ("image gray", lambda g: _set_type(g, "in", shape=(1, 8, 8)), "'in'",
     "unsigned 8-bit [3, H, W]"),
    ("input not image", lambda g: _set_type(g, "in", kind="fixed", signed=True), "'in'",
     "kind is 'fixed', expected 'image'"),
    ("acc frac", lambda g: _set_type(g, "conv1", frac=3), "'conv1'", "frac = 3 must be 0"),
    ("fixed frac negative", lambda g: _set_type(g, "bn1", frac=-1), "'bn1'", "0..63"),
    ("code without scale", lambda g: _set_type(g, "act1", scale=None), "'act1'", "scale"),
    ("negative scale", lambda g: _set_type(g, "bn1", scale=-0.5), "'bn1'", "scale"),
    # input kinds
    ("threshold on code", lambda g: _insert_code_threshold(g), "'act2'",
     "input 'act1' is code, threshold takes acc or fixed"),
    ("add of acc", lambda g: _n(g, "add1").inputs.__setitem__(0, "conv2"), "'add1'",
     "input 'conv2' is acc, add takes fixed"),
    ("rprelu of code", lambda g: _n(g, "prelu1").inputs.__setitem__(0, "act1"), "'prelu1'",
     "input kind"),
    ("requant of code", lambda g: _n(g, "bn2").inputs.__setitem__(0, "act1"), "'bn2'",
     "input kind"),
    ("maxpool of acc", lambda g: _n(g, "pool").inputs.__setitem__(0, "conv2"), "'pool'",
     "input kind"),
    ("avgpool of image", lambda g: _n(g, "gap").inputs.__setitem__(0, "in"), "'gap'",
     "input kind"),
    # conv2d / linear shapes and attributes
    ("conv weight I", lambda g: _n(g, "conv2").arrays.__setitem__(
        "weight", _n(g, "conv2").arrays["weight"][:, :4]), "'conv2'", "I = 8 input channels"),
    ("conv weight k", lambda g: _n(g, "conv2").arrays.__setitem__(
        "weight", _n(g, "conv2").arrays["weight"][:, :, :2, :2]), "'conv2'", "shape"),
    ("conv weight O", lambda g: _n(g, "conv2").arrays.__setitem__(
        "weight", _n(g, "conv2").arrays["weight"][:4]), "'conv2'", "output type: shape"),
    ("conv weight 3-D", lambda g: _n(g, "conv2").arrays.__setitem__(
        "weight", _n(g, "conv2").arrays["weight"][:, :, 0]), "'conv2'", "expected [O, I, k, k]"),
    ("conv stride", lambda g: _n(g, "conv2").attrs.__setitem__("stride", 2), "'conv2'",
     "H_out = (H + 2p - k)//s + 1"),
    ("conv padding", lambda g: _n(g, "conv1").attrs.__setitem__("padding", 0), "'conv1'",
     "output type: shape is [8, 8, 8], expected [8, 6, 6]"),
    ("conv kernel 0", lambda g: _n(g, "conv1").attrs.__setitem__("kernel", 0), "'conv1'",
     "kernel = 0 must be >= 1"),
    ("conv negative padding", lambda g: _n(g, "conv1").attrs.__setitem__("padding", -1),
     "'conv1'", "padding = -1"),
    ("conv kernel too big", lambda g: _n(g, "conv1").attrs.__setitem__("kernel", 11), "'conv1'",
     "does not fit"),
    ("zero_point shape", lambda g: _n(g, "conv1").arrays.__setitem__(
        "zero_point", np.zeros(4, np.int16)), "'conv1'", "array 'zero_point' is [4]"),
    ("linear 3-D input", lambda g: _n(g, "fc").inputs.__setitem__(0, "pool"), "'fc'",
     "[I] or [I, 1, 1]"),
    ("linear weight I", lambda g: _n(g, "fc").arrays.__setitem__(
        "weight", _n(g, "fc").arrays["weight"][:, :7]), "'fc'", "I = 8 inputs"),
    ("linear output", lambda g: _set_type(g, "fc", shape=(9,)), "'fc'", "output type: shape"),
    # weight ranges and formats
    ("int8 weight 128", lambda g: _weight(g, "conv1", (0, 0, 0, 0), 128, np.int16), "'conv1'",
     "weight range"),
    ("int8 weight -129", lambda g: _weight(g, "fc", (3, 2), -129, np.int16), "'fc'",
     "weight[3, 2] = -129 is outside [-128, 127]"),
    ("odd weight even", lambda g: _weight(g, "conv2", (1, 2, 0, 1), 2), "'conv2'",
     "weight[1, 2, 0, 1] = 2 is even"),
    ("odd weight zero", lambda g: _weight(g, "conv2", (0, 0, 0, 0), 0), "'conv2'", "is even"),
    ("odd weight > N", lambda g: _weight(g, "conv2", (0, 0, 0, 0), 5), "'conv2'",
     "outside [-3, 3]"),
    ("int8 weight_bits", lambda g: _n(g, "conv1").attrs.__setitem__("weight_bits", 4), "'conv1'",
     "weight_bits = 4 must be 8"),
    ("odd weight_bits", lambda g: _n(g, "conv2").attrs.__setitem__("weight_bits", 9), "'conv2'",
     "weight_bits = 9 must be in 1..8"),
    ("weight_format", lambda g: _n(g, "conv2").attrs.__setitem__("weight_format", "ternary"),
     "'conv2'", "weight_format 'ternary'"),
    # accumulator bound and width
    ("acc_bound too small", lambda g: _rebound(g, "conv2", 20), "'conv2'",
     "acc_bound = 20 is below the worst case"),
    ("acc_bound negative", lambda g: _n(g, "conv2").attrs.__setitem__("acc_bound", -1),
     "'conv2'", "acc_bound = -1"),
    ("acc_bound 2^62", lambda g: _rebound(g, "conv2", 2**62), "'conv2'", "acc_bound"),
    ("acc bits short", lambda g: _set_type(g, "conv2", bits=_n(g, "conv2").type.bits - 1),
     "'conv2'", "ceil(log2(acc_bound + 1)) + 1"),
    ("acc bits long", lambda g: _set_type(g, "fc", bits=_n(g, "fc").type.bits + 1), "'fc'",
     "ceil(log2(acc_bound + 1)) + 1"),
    ("zero_point widens range", lambda g: _n(g, "conv1").arrays.__setitem__(
        "zero_point", np.full(3, -20000, np.int16)), "'conv1'", "acc_bound"),
    # threshold
    ("threshold bits attr", lambda g: _n(g, "act1").attrs.__setitem__("bits", 3), "'act1'",
     "bits is 2, expected 3"),
    ("threshold pos columns", lambda g: _n(g, "act1").arrays.__setitem__(
        "pos", _n(g, "act1").arrays["pos"][:, :2]), "'act1'", "N = 2^2 - 1"),
    ("threshold neg channels", lambda g: _n(g, "act1").arrays.__setitem__(
        "neg", _n(g, "act1").arrays["neg"][:5]), "'act1'", "array 'neg'"),
    ("threshold breakpoint shape", lambda g: _n(g, "act1").arrays.__setitem__(
        "breakpoint", _n(g, "act1").arrays["breakpoint"][:, None]), "'act1'",
     "array 'breakpoint'"),
    ("pos decreasing", lambda g: _pos(g, lambda a: a["pos"].__setitem__(
        (2, 1), a["pos"][2, 0] - 1)), "'act1'", "pos row 2 is not non-decreasing"),
    ("neg increasing", lambda g: _pos(g, lambda a: a["neg"].__setitem__(
        (3, 2), a["neg"][3, 1] + 1)), "'act1'", "neg row 3 is not non-increasing"),
    ("pos above range", lambda g: _pos(g, lambda a: a["pos"].__setitem__((7, 2), 2**11 + 1)),
     "'act1'", "pos[7, 2] = 2049 is outside [-2048, 2048]"),
    ("pos below range", lambda g: _pos(g, lambda a: a["pos"][0].__setitem__(
        slice(None), -2049)), "'act1'", "outside [-2048, 2048]"),
    ("neg above range", lambda g: _pos(g, lambda a: a["neg"][1].__setitem__(
        slice(None), 2048)), "'act1'", "outside [-2049, 2047]"),
    ("breakpoint range", lambda g: _pos(g, lambda a: a["breakpoint"].__setitem__(1, -5000)),
     "'act1'", "breakpoint[1] = -5000"),
    ("threshold shape", lambda g: _set_type(g, "act1", shape=(8, 4, 4)), "'act1'",
     "output type: shape"),
    # requant
    ("requant shift negative", lambda g: _n(g, "bn1").attrs.__setitem__("shift", -1), "'bn1'",
     "shift = -1"),
    ("requant bits attr", lambda g: _n(g, "bn1").attrs.__setitem__("bits", 16), "'bn1'",
     "bits is 12, expected 16"),
    ("requant frac attr", lambda g: _n(g, "out").attrs.__setitem__("frac", 4), "'out'",
     "frac is 8, expected 4"),
    ("requant output kind", lambda g: _set_type(g, "bn1", kind="acc", frac=0), "'bn1'",
     "kind is 'acc', expected 'fixed'"),
    ("requant multiplier shape", lambda g: _n(g, "bn1").arrays.__setitem__(
        "multiplier", np.ones(4, np.int64)), "'bn1'", "array 'multiplier' is [4], expected [8]"),
    ("requant overflow", lambda g: _n(g, "bn1").arrays["multiplier"].__setitem__(3, 2**45),
     "'bn1'", "int64 bound"),
    ("requant bias overflow", lambda g: _n(g, "out").arrays["bias"].__setitem__(0, 2**62),
     "'out'", "int64 bound"),
    # add
    ("add frac mismatch", lambda g: _n(g, "add1").attrs.__setitem__("shift_b", 1), "'add1'",
     "frac: input b ('bn1')"),
    ("add output frac", lambda g: _set_type(g, "add1", frac=7), "'add1'", "frac is 7"),
    ("add shapes", lambda g: _insert_before(g, "add1", Node(
        "small", "maxpool", ["bn1"], TensorType("fixed", True, 12, (8, 4, 4), 6, 2.0**-6),
        {"kernel": 2, "stride": 2, "padding": 0})) or _n(g, "add1").inputs.__setitem__(
        1, "small"), "'add1'",
     "different shapes"),
    ("add overflow", lambda g: (_n(g, "add1").attrs.update(shift_a=52, shift_b=52, frac=58),
                                _set_type(g, "add1", frac=58)), "'add1'", "int64 bound"),
    ("add shift range", lambda g: _n(g, "add1").attrs.__setitem__("shift_a", -63), "'add1'",
     "shift_a = -63"),
    # rprelu
    ("rprelu frac", lambda g: _set_type(g, "prelu1", frac=5), "'prelu1'", "frac is 5"),
    ("rprelu slope shape", lambda g: _n(g, "prelu1").arrays.__setitem__(
        "slope", np.ones((8, 1), np.int64)), "'prelu1'", "array 'slope'"),
    ("rprelu overflow", lambda g: _n(g, "prelu1").arrays["slope"].__setitem__(2, 2**50),
     "'prelu1'", "int64 bound"),
    ("rprelu bias2 overflow", lambda g: _n(g, "prelu1").arrays["bias2"].__setitem__(
        5, 2**62 - 10), "'prelu1'", "int64 bound"),
    ("rprelu slope_frac", lambda g: _n(g, "prelu1").attrs.__setitem__("slope_frac", -1),
     "'prelu1'", "slope_frac = -1"),
    # pooling
    ("maxpool shape", lambda g: _set_type(g, "pool", shape=(8, 8, 8)), "'pool'",
     "output type: shape is [8, 8, 8], expected [8, 4, 4]"),
    ("maxpool padding", lambda g: _n(g, "pool").attrs.__setitem__("padding", 2), "'pool'",
     "padding = 2 must be < kernel = 2"),
    ("maxpool keeps type", lambda g: _set_type(g, "pool", bits=12), "'pool'",
     "bits is 12, expected 13"),
    ("maxpool keeps scale", lambda g: _set_type(g, "pool", scale=1.0), "'pool'", "scale"),
    ("avgpool bits", lambda g: _set_type(g, "gap", bits=16), "'gap'", "ceil(log2(H*W))"),
    ("avgpool shape", lambda g: _set_type(g, "gap", shape=(8, 1, 1)), "'gap'",
     "output type: shape"),
    ("avgpool of [C]", lambda g: _vector_into_gap(g), "'gap'", "[C, H, W]"),
]


def _insert_before(g: Graph, name: str, *nodes: Node) -> None:
    i = g.nodes.index(_n(g, name))
    g.nodes[i:i] = list(nodes)


def _vector_into_gap(g: Graph) -> None:
    """gap reads a fixed [8] tensor (avgpool_sum -> requant) instead of pool."""
    _insert_before(g, "gap", Node("gap0", "avgpool_sum", ["pool"],
                                  TensorType("acc", True, 17, (8,))),
                   Node("vec", "requant", ["gap0"], TensorType("fixed", True, 12, (8,), 6, None),
                        {"shift": 0, "bits": 12, "frac": 6},
                        {"multiplier": np.ones(8, np.int64), "bias": np.zeros(8, np.int64)}))
    _n(g, "gap").inputs = ["vec"]


def _insert_code_threshold(g: Graph) -> None:
    """A threshold whose input is a code tensor, right after act1."""
    act1 = _n(g, "act1")
    i = g.nodes.index(act1)
    g.nodes.insert(i + 1, Node("act2", "threshold", ["act1"], TensorType(
        "code", False, 2, (8, 8, 8), 0, 0.5), {"bits": 2},
        {"pos": np.zeros((8, 3), np.int64)}))


def test_small_graph_is_valid():
    validate(small_graph())
    validate(small_graph(seed=3))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule(case):
    _, mutate, where, words = case
    g = small_graph()
    mutate(g)
    with pytest.raises(N2UQError) as exc:
        validate(g)
    msg = str(exc.value)
    assert "\n" not in msg
    assert where in msg and words in msg, msg
    if where.startswith("'"):
        assert msg.startswith(f"node {where} (")


def test_case_ids_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


# ----------------------------------------------------------------------------- accepted edges


def test_int8_accepts_minus_128_and_odd_extremes():
    g = small_graph()
    _weight(g, "fc", (0, 0), -128)
    _weight(g, "fc", (0, 1), 127)
    _weight(g, "conv2", (0, 0, 0, 0), -3)
    _weight(g, "conv2", (0, 0, 0, 1), 3)
    for name in ("fc", "conv2"):  # the builder's bound came from the old weights
        w = _n(g, name).arrays["weight"].astype(np.int64)
        _rebound(g, name, int(np.abs(w.reshape(w.shape[0], -1)).sum(1).max()) * 2**30)
    validate(g)


def test_wide_weight_dtype_is_accepted():
    g = small_graph()
    for name in ("conv1", "conv2", "fc"):
        _n(g, name).arrays["weight"] = _n(g, name).arrays["weight"].astype(np.int32)
    _n(g, "conv1").arrays["zero_point"] = _n(g, "conv1").arrays["zero_point"].astype(np.int64)
    validate(g)


def test_one_sided_threshold_on_acc_and_source_attr():
    b = Builder(1)
    x = b.input("in", 5, 5)
    x = b.conv("c", x, 4, k=3, s=2, p=0)
    b.threshold("t", x, bits=3)
    g = b.graph()
    _n(g, "c").attrs["source"] = "stem.0"
    _n(g, "t").attrs["source"] = "stem.act"
    validate(g)
    assert _n(g, "c").type.shape == (4, 2, 2)


def test_threshold_extremes_and_never_break():
    g = small_graph()
    t = _n(g, "bn1").type
    a = _n(g, "act1").arrays
    a["pos"][:] = [t.min, 0, t.max + 1]
    a["neg"][:] = [t.max, 0, t.min - 1]
    a["breakpoint"][:] = NEVER_BREAK
    a["breakpoint"][1] = t.max + 1
    validate(g)


def test_no_zero_point_and_no_acc_scale():
    g = small_graph()
    _n(g, "conv1").arrays.pop("zero_point")
    _n(g, "conv1").attrs.pop("acc_scale")
    w = _n(g, "conv1").arrays["weight"].astype(np.int64)
    _rebound(g, "conv1", int(np.abs(w).sum((1, 2, 3)).max()) * 255)
    validate(g)


# ----------------------------------------------------------------------------- acc_bound exactness


def _exhaustive_linear(w: np.ndarray, lo: int, hi: int) -> int:
    """max |w @ x| over every integer x in [lo, hi]^I, by enumeration."""
    xs = np.array(list(itertools.product(range(lo, hi + 1), repeat=w.shape[1])), np.int64)
    return int(np.abs(xs @ w.T.astype(np.int64)).max())


@pytest.mark.parametrize("kind", ["code", "fixed"])
def test_acc_bound_is_exact_worst_case(kind):
    """The validator accepts the true worst case and rejects one less (linear, small types)."""
    rng = np.random.default_rng(7)
    if kind == "code":  # unsigned: the tight bound is below sum|w| * max|x|
        src, lo, hi = TensorType("code", False, 2, (4, 1, 1), 0, 0.5), 0, 3
    else:
        src, lo, hi = TensorType("fixed", True, 3, (4, 1, 1), 1, 0.5), -4, 3
    w = rng.integers(-128, 128, size=(5, 4), dtype=np.int8)
    exact = _exhaustive_linear(w, lo, hi)
    if kind == "code":
        assert exact < int(np.abs(w.astype(np.int64)).sum(1).max()) * hi
    validate(_linear_on(src, w, exact))
    with pytest.raises(N2UQError, match="'fc'.*acc_bound"):
        validate(_linear_on(src, w, exact - 1))


def _linear_on(src: TensorType, w: np.ndarray, bound: int) -> Graph:
    """in (3x1x1 image) -> 1x1 conv to 4 channels -> threshold or requant giving ``src``
    ([4, 1, 1]) -> fc with weights ``w`` and ``acc_bound``."""
    b = Builder(0)
    b.input("in", 1, 1)
    b.emit("c", "conv2d", ["in"], TensorType("acc", True, (765).bit_length() + 1, (4, 1, 1)),
           {"kernel": 1, "stride": 1, "padding": 0, "acc_bound": 765, "weight_format": "int8",
            "weight_bits": 8}, {"weight": np.ones((4, 3, 1, 1), np.int8)})
    if src.kind == "code":
        b.emit("q", "threshold", ["c"], src, {"bits": src.bits},
               {"pos": np.zeros((4, 2**src.bits - 1), np.int64)})
    else:
        b.emit("q", "requant", ["c"], src, {"shift": 0, "bits": src.bits, "frac": src.frac},
               {"multiplier": np.ones(4, np.int64), "bias": np.zeros(4, np.int64)})
    b.emit("fc", "linear", ["q"], TensorType("acc", True, bound.bit_length() + 1, (5,)),
           {"acc_bound": bound, "weight_format": "int8", "weight_bits": 8}, {"weight": w})
    return b.graph()


def _conv_on_image(w: np.ndarray, zp: np.ndarray, pad: int, bound: int) -> Graph:
    b = Builder(0)
    b.input("in", 3, 3)
    o = 3 - w.shape[-1] + 2 * pad + 1
    b.emit("c", "conv2d", ["in"], TensorType("acc", True, bound.bit_length() + 1, (1, o, o)),
           {"kernel": w.shape[-1], "stride": 1, "padding": pad, "acc_bound": bound,
            "weight_format": "int8", "weight_bits": 8}, {"weight": w, "zero_point": zp})
    return b.graph()


def test_conv_bound_includes_zero_point_and_padding():
    """x' = x - zp ranges over [5, 260] on channel 0 (zp = -5); padded taps give x' = 0."""
    w = np.zeros((1, 3, 3, 3), np.int8)
    w[0, 0] = [[10, -10, 10], [-10, 10, -10], [10, -10, 10]]  # five +10, four -10
    zp = np.array([-5, 0, 0], np.int16)
    no_pad = 50 * 260 - 40 * 5  # max acc; min is 50 * 5 - 40 * 260 = -10150
    padded = 50 * 260 - 40 * 0
    for pad, exact in ((0, no_pad), (1, padded)):
        validate(_conv_on_image(w, zp, pad, exact))
        with pytest.raises(N2UQError, match="'c'.*worst case \\|acc\\| = " + str(exact)):
            validate(_conv_on_image(w, zp, pad, exact - 1))


def test_linear_after_avgpool_uses_the_pooled_range():
    """fc after avgpool_sum: the bound is H*W times the pooled input's range, which is
    tighter than the acc type's range (the lowering relies on it)."""
    b = Builder(0)
    b.input("in", 7, 7)
    b.emit("c", "conv2d", ["in"], TensorType("acc", True, 9, (3, 7, 7)),
           {"kernel": 1, "stride": 1, "padding": 0, "acc_bound": 255, "weight_format": "int8",
            "weight_bits": 8}, {"weight": np.eye(3, dtype=np.int8)[:, :, None, None]})
    b.emit("v", "requant", ["c"], TensorType("fixed", True, 4, (3, 7, 7), 0, 1.0),
           {"shift": 0, "bits": 4, "frac": 0},
           {"multiplier": np.ones(3, np.int64), "bias": np.zeros(3, np.int64)})
    b.avgpool_sum("gap", "v")  # 4 + 6 bits: type range +-512, pooled range [-392, 343]
    w = np.array([[1, -2, 3]], np.int8)
    exact = 4 * 392 + 2 * 343  # min acc: -392 - 2 * 343 - 3 * 392; below 6 * 392 and 6 * 512
    b.emit("fc", "linear", ["gap"], TensorType("acc", True, exact.bit_length() + 1, (1,)),
           {"acc_bound": exact, "weight_format": "int8", "weight_bits": 8}, {"weight": w})
    g = b.graph()
    assert _n(g, "gap").type.bits == 10
    validate(g)
    _rebound(g, "fc", exact - 1)
    with pytest.raises(N2UQError, match="'fc'.*worst case \\|acc\\| = 2254"):
        validate(g)


def test_avgpool_sum_of_codes_needs_sign_bit():
    b = Builder(0)
    b.input("in", 2, 2)
    b.conv("c", "in", 2, k=1, s=1, p=0)
    b.threshold("t", "c", bits=2)
    b.avgpool_sum("gap", "t")
    g = b.graph()
    assert _n(g, "gap").type.bits == 2 + 2 + 1  # sum of 4 codes <= 12 needs 5 signed bits
    validate(g)
    _set_type(g, "gap", bits=4)
    with pytest.raises(N2UQError, match="unsigned input"):
        validate(g)


def test_validate_resnet18_size_is_fast():
    g = resnet18_like()
    assert sum(n.arrays["weight"].size for n in g.nodes if "weight" in n.arrays) > 11_000_000
    best = min(_timed(validate, g) for _ in range(2))
    assert best < 0.8, f"validate took {best:.3f} s"


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t
