"""QONNX export (``n2uq_hw.ir.onnx_export``): the ONNX model computes exactly the IR's integers.

Every IR node's output is a named tensor of the exported model; each one must equal the
golden executor (``run_ir``) bit for bit on random uint8 images, under qonnx's executor
(``execute_onnx``, onnxruntime per node + qonnx's MultiThreshold) when qonnx is installed
(``pip install 'n2uq-hw[onnx]'``), and under onnx's own reference evaluator otherwise too.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ir_fixtures import Builder, small_graph

from models import build_model
from n2uq_hw.errors import N2UQError
from n2uq_hw.ir import Graph, Node, TensorType, save_ir
from n2uq_hw.ir.onnx_export import QONNX_DOMAIN, export_onnx, to_onnx
from n2uq_hw.lower import calibrate_bn, lower_model
from n2uq_hw.lower.lowering import CIFAR_NORM, normalise
from n2uq_hw.reference import run_ir

onnx = pytest.importorskip(
    "onnx", reason="the ONNX export needs the 'onnx' package (pip install 'n2uq-hw[onnx]')")

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2


# ----------------------------------------------------------------------------- graphs


def _images(n: int, shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)


def _lowered(name: str, seed: int, **kw) -> Graph:
    """A seeded model, BN calibrated, with some PReLU slopes <= 0 so that the lowering
    emits two-sided thresholds too; ``kw`` goes to ``lower_model``."""
    torch.manual_seed(seed)
    model = build_model(name)
    with torch.no_grad():
        calibrate_bn(model, normalise(_images(16, (3, 32, 32), seed), *CIFAR_NORM), batches=2)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.PReLU):
                pick = torch.from_numpy(rng.random(mod.weight.numel()) < 0.3)
                vals = torch.from_numpy(rng.choice([-0.3, 0.0], mod.weight.numel())).float()
                mod.weight[pick] = vals[pick]
    res = lower_model(model.eval(), _images(8, (3, 32, 32), 100 + seed), mean=CIFAR_NORM[0],
                      std=CIFAR_NORM[1], **kw)
    return res.graph


def _conv_node(b: Builder, name: str, x: str, w: np.ndarray, k: int, s: int, p: int,
               fmt: str, wbits: int) -> str:
    """A conv2d with the given weights (Builder.conv draws its own)."""
    xt = b.t(x)
    bound = b._bound(xt, w.reshape(w.shape[0], w.shape[1], -1), None)
    _, h, wd = xt.shape
    shape = (w.shape[0], (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1)
    attrs = {"kernel": k, "stride": s, "padding": p, "acc_bound": bound,
             "weight_format": fmt, "weight_bits": wbits}
    bits = math.ceil(math.log2(bound + 1)) + 1
    return b.emit(name, "conv2d", [x], TensorType("acc", True, bits, shape), attrs,
                  {"weight": w})


def split_graph(seed: int = 0) -> Graph:
    """Convolutions whose float32 partial sums would pass 2^24: int16 weights on the image
    (weights split into digits), int8 weights on a 16-bit fixed-point input (input split);
    a padded maxpool over negative values."""
    b = Builder(seed)
    x = b.input("in", 8, 8)
    w16 = b.rng.integers(-32768, 32768, size=(8, 3, 3, 3)).astype(np.int16)
    x = _conv_node(b, "stem16", x, w16, 3, 1, 1, "int16", 16)
    x = b.requant("stem16.bn", x, bits=16, frac=4, shift=16)
    w8 = b.rng.integers(-128, 128, size=(16, 8, 3, 3)).astype(np.int8)
    y = _conv_node(b, "wide", x, w8, 3, 2, 1, "int8", 8)
    y = b.requant("wide.bn", y, bits=16, frac=4, shift=20)
    y = b.maxpool("pool", y, 3, 2, 1)
    y = b.rprelu("prelu", y, bits=16)
    y = b.avgpool_sum("gap", y)
    y = b.linear("fc", y, 10)
    b.requant("out", y, bits=16, frac=8, shift=24)
    return b.graph(model="split")


def flatten_graph(seed: int = 0) -> Graph:
    """A linear whose input is a [C, 1, 1] conv output (Flatten), with a zero point."""
    b = Builder(seed)
    x = b.input("in", 5, 5)
    x = b.conv("conv", x, 6, k=5, s=1, p=0, zero_point=True)
    x = b.requant("bn", x, bits=8, frac=2)
    w = b.rng.integers(-128, 128, size=(4, 6)).astype(np.int8)
    zp = np.array([3, -2, 0, 1, 5, -7], dtype=np.int16)
    bound = b._bound(b.t(x), w[:, :, None], zp)
    b.emit("fc", "linear", [x], TensorType("acc", True, math.ceil(math.log2(bound + 1)) + 1,
                                           (4,)),
           {"acc_bound": bound, "weight_format": "int8", "weight_bits": 8},
           {"weight": w, "zero_point": zp})
    return b.graph(model="flatten")


@pytest.fixture(scope="module")
def graphs() -> dict[str, Graph]:
    return {"smallcnn_w2a2": _lowered("smallcnn_w2a2", 0),
            "resnet20_w2a2": _lowered("resnet20_w2a2", 3),
            # input_shift and 16-bit stem weights: the stem conv is split into digits
            "smallcnn_stem16": _lowered("smallcnn_w2a2", 4, stem_bits=16, input_shift=4),
            "small_graph": small_graph(1), "split": split_graph(2),
            "flatten": flatten_graph(3)}


# ----------------------------------------------------------------------------- helpers


def _feed(graph: Graph, images: torch.Tensor) -> dict[str, np.ndarray]:
    return {graph.input: images.numpy().astype(np.float32)}


def _assert_exact(graph: Graph, values: dict[str, np.ndarray], ref: dict[str, torch.Tensor],
                  who: str) -> None:
    bad = []
    for node in graph.nodes:
        got, want = values[node.name], ref[node.name].numpy()
        assert got.dtype == (np.float32 if node.op == "input" else np.float64), node.name
        if got.shape != want.shape or not np.array_equal(got, want.astype(got.dtype)):
            diff = (np.abs(got - want).max() if got.shape == want.shape
                    else f"shape {got.shape} vs {want.shape}")
            bad.append(f"{node.name} ({node.op}): {diff}")
    assert not bad, f"{who} differs from run_ir at: " + "; ".join(bad)


def _qonnx_exec(model, graph: Graph, images: torch.Tensor) -> dict[str, np.ndarray]:
    pytest.importorskip(
        "qonnx", reason="qonnx (and onnxruntime) not installed: pip install 'n2uq-hw[onnx]'")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx = execute_onnx(ModelWrapper(model), _feed(graph, images),
                           return_full_exec_context=True)
    # qonnx warns (and rounds) when a tensor breaks its finn_datatype annotation
    msgs = [str(w.message) for w in caught if "qonnx" in (w.filename or "")]
    assert not msgs, msgs
    return ctx


def _reference_exec(model, graph: Graph, images: torch.Tensor) -> dict[str, np.ndarray]:
    """onnx's ReferenceEvaluator with qonnx's MultiThreshold semantics (count of v >= t)."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class MultiThreshold(OpRun):
        op_domain = QONNX_DOMAIN

        def _run(self, v, thr, out_dtype=None, out_scale=None, out_bias=None,
                 data_layout=None):
            vm = np.moveaxis(v, 1, -1)[..., None]
            count = np.count_nonzero(vm >= thr, axis=-1).astype(v.dtype)
            return (np.moveaxis(count, -1, 1) * out_scale + out_bias,)

    names = [n.name for n in graph.nodes if n.op != "input"]
    outs = ReferenceEvaluator(model, new_ops=[MultiThreshold]).run(names, _feed(graph, images))
    return {graph.input: _feed(graph, images)[graph.input], **dict(zip(names, outs))}


# ----------------------------------------------------------------------------- tests

CASES = ["smallcnn_w2a2", "resnet20_w2a2", "smallcnn_stem16", "small_graph", "split",
         "flatten"]


@pytest.mark.parametrize("case", CASES)
def test_export_matches_run_ir_under_qonnx(graphs, case, tmp_path):
    graph = graphs[case]
    path = export_onnx(graph, tmp_path / "model.onnx", batch=BATCH)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    images = _images(BATCH, graph.node(graph.input).type.shape, 7)
    ref = run_ir(graph, images)
    _assert_exact(graph, _qonnx_exec(model, graph, images), ref, "qonnx execute_onnx")


@pytest.mark.parametrize("case", CASES)
def test_export_matches_run_ir_under_onnx_reference(graphs, case):
    graph = graphs[case]
    model = to_onnx(graph, batch=BATCH)
    onnx.checker.check_model(model, full_check=True)
    images = _images(BATCH, graph.node(graph.input).type.shape, 8)
    _assert_exact(graph, _reference_exec(model, graph, images), run_ir(graph, images),
                  "onnx ReferenceEvaluator")


def test_model_structure(graphs):
    g = graphs["resnet20_w2a2"]
    model = to_onnx(g)
    ops = [n.op_type for n in model.graph.node]
    n_thr = sum(n.op == "threshold" for n in g.nodes)
    n_two = sum(n.op == "threshold" and "neg" in n.arrays for n in g.nodes)
    assert n_two > 0, "the perturbed model should have two-sided thresholds"
    assert ops.count("MultiThreshold") == n_thr + n_two
    assert all(n.domain == QONNX_DOMAIN for n in model.graph.node
               if n.op_type == "MultiThreshold")
    assert ops.count("Conv") == sum(n.op == "conv2d" for n in g.nodes)  # no split needed
    assert [i.name for i in model.graph.input] == [g.input]
    assert [o.name for o in model.graph.output] == [g.output]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ann = {a.tensor_name: a.quant_parameter_tensor_names[0].value
           for a in model.graph.quantization_annotation}
    assert ann[g.input] == "UINT8"
    for n in g.nodes[1:]:
        assert ann[n.name] == f"{'INT' if n.type.signed else 'UINT'}{n.type.bits}", n.name
    stem = graphs["smallcnn_stem16"].nodes[1]
    assert stem.attrs.get("input_shift") == 4 and stem.attrs["weight_bits"] == 16
    assert [n.op_type for n in to_onnx(graphs["smallcnn_stem16"]).graph.node].count(
        "Conv") > sum(n.op == "conv2d" for n in graphs["smallcnn_stem16"].nodes)
    split = to_onnx(graphs["split"])
    # 16-bit weights on pixels: 2 weight digits; int8 on 16-bit fixed point: 2 input digits
    assert [n.op_type for n in split.graph.node].count("Conv") == 4


def test_refuses_what_float64_cannot_hold():
    b = Builder(0)
    x = b.input("in", 4, 4)
    x = b.conv("conv", x, 4, fmt="int8")
    b.requant("bn", x, bits=16, frac=4, shift=40)
    g = b.graph()
    g.node("bn").arrays["multiplier"][:] = 2**40  # |v| * 2^40 >= 2^52
    with pytest.raises(N2UQError, match=r"node 'bn' \(requant\).*2\^52"):
        to_onnx(g)


def test_bad_batch_and_missing_onnx(monkeypatch):
    g = small_graph()
    with pytest.raises(N2UQError, match="batch"):
        to_onnx(g, batch=0)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(N2UQError, match=r"n2uq-hw\[onnx\]"):
        to_onnx(g)


def test_name_collision_is_one_error():
    g = small_graph()
    n = g.node("bn1")
    g.nodes.insert(g.nodes.index(n) + 1, Node("conv1:weight", "requant", ["conv1"], n.type,
                                              dict(n.attrs), dict(n.arrays)))
    with pytest.raises(N2UQError, match="used twice"):
        to_onnx(g)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "n2uq_hw.ir", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_export_onnx(tmp_path):
    save_ir(small_graph(), tmp_path / "ir")
    out = tmp_path / "sub" / "m.onnx"
    proc = _cli("export-onnx", str(tmp_path / "ir"), "-o", str(out), "--batch", "3")
    assert proc.returncode == 0, proc.stderr
    assert "exported tiny" in proc.stdout and out.is_file()
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    for args, msg in [((str(tmp_path / "nope"), "-o", str(out)), "is not an IR folder"),
                      ((str(tmp_path / "ir"), "-o", str(tmp_path)), "is a folder"),
                      ((str(tmp_path / "ir"), "-o", str(out), "--batch", "0"), "--batch")]:
        proc = _cli("export-onnx", *args)
        assert proc.returncode == 2, proc
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], lines
    assert _cli("show", str(tmp_path / "ir")).returncode == 0
