"""IR data structures and their files (``graph.json`` + ``arrays.npz``), see docs/IR.md."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from n2uq_hw.errors import fail
from n2uq_hw.fsutil import atomic_folder

SCHEMA = "n2uq-hw-ir"
VERSION = 1
KINDS = ("image", "code", "acc", "fixed")


@dataclass
class TensorType:
    """Output tensor of a node: kind, integer format and per-sample shape."""

    kind: str
    signed: bool
    bits: int
    shape: tuple[int, ...]
    frac: int = 0
    scale: float | None = None

    @property
    def min(self) -> int:
        return -(2 ** (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "signed": self.signed, "bits": self.bits,
                "frac": self.frac, "shape": list(self.shape), "scale": self.scale}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TensorType:
        return cls(d["kind"], bool(d["signed"]), int(d["bits"]), tuple(int(v) for v in d["shape"]),
                   int(d.get("frac", 0)), d.get("scale"))


@dataclass
class Node:
    """One operation; ``arrays`` maps keys to integer numpy arrays (docs/IR.md per op)."""

    name: str
    op: str
    inputs: list[str]
    type: TensorType
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "inputs": list(self.inputs),
                "attrs": self.attrs, "arrays": sorted(self.arrays), "type": self.type.to_json()}


@dataclass
class Graph:
    """Nodes in execution order, one input node and one output node."""

    model: str
    nodes: list[Node]
    input: str
    output: str
    meta: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "model": self.model, "input": self.input,
                "output": self.output, "nodes": [n.to_json() for n in self.nodes],
                "meta": self.meta}


def save_ir(graph: Graph, folder: str | Path) -> Path:
    """Write ``folder/graph.json`` and ``folder/arrays.npz`` atomically (whole folder)."""
    from n2uq_hw.ir.validate import validate

    validate(graph)
    folder = Path(folder)
    with atomic_folder(folder) as tmp:
        write_ir_files(graph, tmp)
    return folder


def write_ir_files(graph: Graph, folder: Path) -> None:
    """Write ``graph.json`` and ``arrays.npz`` into an existing ``folder`` (not atomic)."""
    (folder / "graph.json").write_text(json.dumps(graph.to_json(), indent=1) + "\n")
    arrays = {f"{n.name}.{k}": v for n in graph.nodes for k, v in n.arrays.items()}
    np.savez_compressed(folder / "arrays.npz", **arrays)


def load_ir(path: str | Path) -> Graph:
    """Read and validate an IR folder (or its ``graph.json``); one clear error if malformed."""
    from n2uq_hw.ir.validate import validate

    path = Path(path)
    folder = path.parent if path.name == "graph.json" else path
    gj, npz = folder / "graph.json", folder / "arrays.npz"
    if not gj.is_file() or not npz.is_file():
        fail(f"{folder} is not an IR folder (needs graph.json and arrays.npz)")
    try:
        doc = json.loads(gj.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{gj} is not valid JSON ({exc})")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        fail(f"{gj} is not an {SCHEMA} file")
    if doc.get("version") != VERSION:
        fail(f"{gj} has schema version {doc.get('version')!r}, this tool reads {VERSION}")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        fail(f"{npz} is unreadable ({exc})")
    try:
        nodes = []
        for nd in doc["nodes"]:
            own = {k: arrays.pop(f"{nd['name']}.{k}") for k in nd.get("arrays", [])}
            nodes.append(Node(nd["name"], nd["op"], list(nd["inputs"]),
                              TensorType.from_json(nd["type"]), dict(nd.get("attrs", {})), own))
        graph = Graph(doc["model"], nodes, doc["input"], doc["output"], doc.get("meta", {}))
    except KeyError as exc:
        fail(f"{folder}: missing entry {exc} in graph.json or arrays.npz")
    except (TypeError, ValueError, AttributeError) as exc:
        fail(f"{folder}: malformed graph.json ({exc})")
    if arrays:
        fail(f"{npz} holds arrays no node refers to: {', '.join(sorted(arrays)[:5])}")
    validate(graph)
    return graph
