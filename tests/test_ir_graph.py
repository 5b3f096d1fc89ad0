"""IR files: save/load round trip, atomic save, one clear error for each malformed input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ir_fixtures import small_graph

from n2uq_hw.errors import N2UQError
from n2uq_hw.ir import SCHEMA, VERSION, load_ir, save_ir


def _same_graph(a, b) -> None:
    assert (a.model, a.input, a.output, a.meta) == (b.model, b.input, b.output, b.meta)
    assert [n.name for n in a.nodes] == [n.name for n in b.nodes]
    for x, y in zip(a.nodes, b.nodes):
        assert (x.op, x.inputs, x.attrs, x.type) == (y.op, y.inputs, y.attrs, y.type), x.name
        assert sorted(x.arrays) == sorted(y.arrays), x.name
        for k in x.arrays:
            assert x.arrays[k].dtype == y.arrays[k].dtype, (x.name, k)
            np.testing.assert_array_equal(x.arrays[k], y.arrays[k])


def _leftovers(parent, name):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}"))


def test_round_trip(tmp_path):
    g = small_graph()
    g.meta.update(checkpoint={"path": "runs/x/best.pt", "sha256": "ab" * 32}, folded=[0.5, 0.25])
    out = save_ir(g, tmp_path / "ir")
    assert out == tmp_path / "ir"
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "graph.json"]
    doc = json.loads((out / "graph.json").read_text())
    assert (doc["schema"], doc["version"]) == (SCHEMA, VERSION)
    with np.load(out / "arrays.npz") as z:
        assert "conv1.weight" in z.files and "act1.breakpoint" in z.files
        assert z["conv1.zero_point"].dtype == np.int16
    for path in (out, out / "graph.json"):
        _same_graph(g, load_ir(path))


def test_save_replaces_existing_folder(tmp_path):
    save_ir(small_graph(seed=0), tmp_path / "ir")
    g1 = small_graph(seed=1)
    save_ir(g1, tmp_path / "ir")
    _same_graph(g1, load_ir(tmp_path / "ir"))
    assert _leftovers(tmp_path, "ir") == []


def test_failed_validation_writes_nothing(tmp_path):
    bad = small_graph()
    bad.node("conv2").attrs["acc_bound"] = 1
    with pytest.raises(N2UQError, match="conv2"):
        save_ir(bad, tmp_path / "new" / "ir")
    assert not (tmp_path / "new").exists() or list((tmp_path / "new").iterdir()) == []
    # an existing IR stays byte for byte as it was
    save_ir(small_graph(), tmp_path / "ir")
    before = {p.name: p.read_bytes() for p in (tmp_path / "ir").iterdir()}
    with pytest.raises(N2UQError, match="conv2"):
        save_ir(bad, tmp_path / "ir")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ir").iterdir()} == before
    assert _leftovers(tmp_path, "ir") == []


@pytest.fixture
def saved(tmp_path):
    return save_ir(small_graph(), tmp_path / "ir")


def _edit_json(folder, fn) -> None:
    doc = json.loads((folder / "graph.json").read_text())
    fn(doc)
    (folder / "graph.json").write_text(json.dumps(doc))


def _edit_npz(folder, fn) -> None:
    with np.load(folder / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    fn(arrays)
    np.savez(folder / "arrays.npz", **arrays)


def _node(doc, name):
    return next(n for n in doc["nodes"] if n["name"] == name)


@pytest.mark.parametrize("corrupt, needle", [
    (lambda f: (f / "graph.json").unlink(), "is not an IR folder"),
    (lambda f: (f / "arrays.npz").unlink(), "is not an IR folder"),
    (lambda f: (f / "graph.json").write_text("{not json"), "is not valid JSON"),
    (lambda f: (f / "graph.json").write_bytes(b"\xff\xfe\x00"), "is not valid JSON"),
    (lambda f: (f / "graph.json").write_text("[1, 2]"), "is not an n2uq-hw-ir file"),
    (lambda f: _edit_json(f, lambda d: d.update(schema="onnx")), "is not an n2uq-hw-ir file"),
    (lambda f: _edit_json(f, lambda d: d.update(version=2)), "schema version 2"),
    (lambda f: _edit_json(f, lambda d: d.pop("version")), "schema version None"),
    (lambda f: _edit_npz(f, lambda a: a.pop("bn1.bias")), "missing entry 'bn1.bias'"),
    (lambda f: _edit_npz(f, lambda a: a.update({"bn1.extra": np.zeros(2, np.int64)})),
     "arrays no node refers to: bn1.extra"),
    (lambda f: _edit_json(f, lambda d: _node(d, "bn1")["arrays"].append("gain")),
     "missing entry 'bn1.gain'"),
    (lambda f: _edit_json(f, lambda d: _node(d, "pool").pop("op")), "missing entry 'op'"),
    (lambda f: _edit_json(f, lambda d: _node(d, "pool")["type"].update(bits="x")),
     "malformed graph.json"),
    (lambda f: (f / "arrays.npz").write_bytes(b"not an npz file"), "unreadable"),
    # well-formed files, invalid graph: the validator's message
    (lambda f: _edit_json(f, lambda d: _node(d, "conv2")["type"].update(bits=30)),
     "node 'conv2' (conv2d): output type: bits is 30"),
    (lambda f: _edit_npz(f, lambda a: a.update({"act1.pos": a["act1.pos"][:, ::-1].copy()})),
     "node 'act1' (threshold): thresholds"),
    (lambda f: _edit_json(f, lambda d: d.update(output="nope")), "output 'nope' is not a node"),
])
def test_load_errors(saved, corrupt, needle):
    corrupt(saved)
    with pytest.raises(N2UQError) as exc:
        load_ir(saved)
    assert needle in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_load_missing_folder(tmp_path):
    with pytest.raises(N2UQError, match="is not an IR folder"):
        load_ir(tmp_path / "nope")


def test_load_truncated_npz(saved):
    data = (saved / "arrays.npz").read_bytes()
    (saved / "arrays.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(N2UQError, match="unreadable"):
        load_ir(saved)
