"""The Triton LTQ kernels agree with the torch path (run in Triton's CPU interpreter).

Skipped where Triton is not installed (CPU-only setups); bench/cifar_resnet20.py repeats
the comparison on a real GPU before it trains.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
from n2uq_hw.quant.ltq_triton import compare_engines
res = compare_engines("cpu", (3, 5, 17, 19))
assert all(r["ok"] for r in res.values()), res
print("ok")
"""


def test_triton_kernels_match_torch_path():
    pytest.importorskip("triton")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
