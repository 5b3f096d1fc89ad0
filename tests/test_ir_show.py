"""``python -m n2uq_hw.ir show``: the per-layer table and its error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ir_fixtures import small_graph

from n2uq_hw.ir import save_ir
from n2uq_hw.ir.show import format_table, layer_stats, signed_width

ROOT = Path(__file__).resolve().parents[1]


def run_ir(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "n2uq_hw.ir", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def _expected(g):
    """MACs and parameter bits of small_graph, from the definitions in show.py."""
    conv1, conv2, fc = g.node("conv1"), g.node("conv2"), g.node("fc")
    return {
        "conv1": (8 * 8 * 8 * 3 * 3 * 3, 8 * 3 * 9 * 8 + 3 * (8 + 1), conv1.type.bits),
        "act1": (0, (8 * 3 * 2 + 8) * (12 + 1), None),
        "conv2": (8 * 8 * 8 * 8 * 3 * 3, 8 * 8 * 9 * 2, conv2.type.bits),
        "gap": (0, 0, g.node("gap").type.bits),
        "fc": (10 * 8, 10 * 8 * 8, fc.type.bits),
        "add1": (0, 0, None),
    }


def test_layer_stats():
    g = small_graph()
    for name, want in _expected(g).items():
        assert layer_stats(g, g.node(name)) == want, name
    bn1 = g.node("bn1")
    m, b = bn1.arrays["multiplier"], bn1.arrays["bias"]
    assert layer_stats(g, bn1)[1] == 8 * (signed_width(m) + signed_width(b))


@pytest.mark.parametrize("values, width", [
    ([0], 1), ([-1], 1), ([1], 2), ([-2, 1], 2), ([127, -128], 8), ([128], 9), ([-129], 9),
    ([2**62], 64), ([-(2**63)], 64)])
def test_signed_width(values, width):
    assert signed_width(np.array(values, dtype=np.int64)) == width


def test_show_table(tmp_path):
    g = small_graph()
    save_ir(g, tmp_path / "ir")
    proc = run_ir("show", str(tmp_path / "ir"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == format_table(g)
    lines = proc.stdout.splitlines()
    assert lines[0] == "model tiny: 12 nodes, input in, output out"
    assert lines[1].split() == ["name", "op", "inputs", "kind", "bits", "frac", "shape", "MACs",
                                "param_bits", "acc_bits"]
    rows = {ln.split()[0]: ln.split() for ln in lines[3:-1]}
    assert list(rows) == [n.name for n in g.nodes]
    exp = _expected(g)
    for name, (macs, params, acc) in exp.items():
        assert rows[name][7:] == [str(macs), str(params), "-" if acc is None else str(acc)]
    assert rows["conv1"][:7] == ["conv1", "conv2d", "in", "acc", str(g.node("conv1").type.bits),
                                 "0", "8x8x8"]
    assert rows["add1"][:7] == ["add1", "add", "bn2,bn1", "fixed", "13", "6", "8x8x8"]
    assert rows["gap"][6] == "8" and rows["pool"][6] == "8x4x4" and rows["in"][2] == "-"
    total_macs = sum(layer_stats(g, n)[0] for n in g.nodes)
    total_bits = sum(layer_stats(g, n)[1] for n in g.nodes)
    assert total_macs == 13824 + 36864 + 80
    assert lines[-1] == (f"total: {total_macs} MACs, {total_bits} parameter bits "
                         f"({(total_bits + 7) // 8} bytes)")


def _one_error_line(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


def test_show_errors(tmp_path):
    _one_error_line(run_ir("show", str(tmp_path / "missing")), "is not an IR folder")
    folder = save_ir(small_graph(), tmp_path / "ir")
    doc = json.loads((folder / "graph.json").read_text())
    next(n for n in doc["nodes"] if n["name"] == "pool")["attrs"]["stride"] = 1
    (folder / "graph.json").write_text(json.dumps(doc))
    _one_error_line(run_ir("show", str(folder)), "node 'pool' (maxpool): output type: shape")
    (folder / "graph.json").write_text("{")
    _one_error_line(run_ir("show", str(folder / "graph.json")), "is not valid JSON")


def test_help():
    proc = run_ir("--help")
    assert proc.returncode == 0 and "show" in proc.stdout
    proc = run_ir("show", "--help")
    assert proc.returncode == 0 and "PATH" in proc.stdout
    assert run_ir().returncode == 2
