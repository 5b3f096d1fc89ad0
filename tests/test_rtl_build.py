"""``python -m rtl_gen build``: the folder, its determinism, and one-line errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from n2uq_hw.ir.graph import load_ir
from rtl_gen.__main__ import main
from rtl_gen.compile.image import MemoryImage

SMALL = ["smallcnn_w2a2", "--pe", "4", "--simd", "8", "--images", "4"]


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "small"
    assert main(["build", *SMALL, "-o", str(out)]) == 0
    return out


def test_build_writes_every_artifact(built):
    names = set(_files(built))
    assert {"program.json", "memory.bin", "golden.npz", "report.md", "report.json",
            "manifest.json", "ir/graph.json", "ir/arrays.npz", "rtl/engine.v"} <= names
    v = (built / "rtl" / "engine.v").read_text()
    for module in ("dp.mac", "dp.accu", "dp.epi.requant", "dp.epi.thr0", "loader", "fetch",
                   "fetch.sg", "arb", "wbuf", "params", "pool", "ops"):
        assert f"module \\engine.{module}" in v, module
    rep = json.loads((built / "report.json").read_text())
    assert rep["engine"]["pe"] == 4 and rep["engine"]["simd"] == 8
    assert rep["summary"]["cycles"] == sum(r["predicted_cycles"] for r in rep["layers"])
    assert rep["lint"]["status"].startswith(("clean", "skipped"))
    man = json.loads((built / "manifest.json").read_text())
    assert set(man["files"]) == names - {"manifest.json"}
    assert "seeded initialisation" in rep["source"]["weights_from"]


def test_memory_image_holds_the_default_input(built):
    prog = json.loads((built / "program.json").read_text())
    graph = load_ir(built / "ir")
    img = MemoryImage(prog["engine"]["mem_bits"])
    from rtl_gen.compile.image import Region

    for name, r in prog["regions"].items():
        img.regions[name] = Region(name, r["kind"], r["offset"], r["size"], r)
    blob = (built / "memory.bin").read_bytes()
    assert len(blob) == prog["memory_bytes"]
    golden = np.load(built / "golden.npz")
    x = img.read_tensor(blob, graph.input, graph.node(graph.input).type)
    assert np.array_equal(x, golden["input"])


def test_build_is_byte_identical_and_replaces_atomically(built):
    first = _files(built)
    assert main(["build", *SMALL, "-o", str(built)]) == 0  # rebuild over the old folder
    assert _files(built) == first
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]


def test_build_from_a_saved_ir_folder(built, tmp_path):
    out = tmp_path / "from_ir"
    assert main(["build", str(built / "ir"), "--pe", "4", "--simd", "8", "-o", str(out)]) == 0
    a, b = _files(built), _files(out)
    assert a["program.json"] == b["program.json"] and a["memory.bin"] == b["memory.bin"]


@pytest.mark.parametrize(("args", "msg"), [
    (["build", "nosuch_w2a2"], "unknown model 'nosuch_w2a2'"),
    (["build", "smallcnn_w2a2", "--pe", "0"], "--pe must be an integer in 1..256"),
    (["build", "smallcnn_w2a2", "--target", "ice40-up5k", "--pe", "64", "--simd", "64"],
     "do not fit ice40-up5k"),
    (["build", "smallcnn_w2a2", "--checkpoint", "missing.pt"], "checkpoint missing.pt"),
    (["build", "./not/a/folder"], "neither a registry model name nor an IR folder"),
])
def test_build_errors_are_one_line_and_write_nothing(args, msg, tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "rtl_gen", *args, "-o", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0
    assert msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed "
                    "(scripts/setup.sh --apt)")
def test_generated_verilog_loads_in_icarus(built, tmp_path):
    r = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "a.out"),
                        str(built / "rtl" / "engine.v")], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
