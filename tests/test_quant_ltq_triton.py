"""The Triton quantizer kernels agree with the torch path (run in Triton's CPU interpreter).

Skipped where Triton is not installed (CPU-only setups); bench/step_time.py repeats the
comparisons on a real GPU, and bench/cifar_resnet20.py falls back to a working engine if
one of them fails there.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
from n2uq_hw.quant import ltq_triton, weight_triton
for engine in ("triton", "triton_v1"):
    res = ltq_triton.compare_engines("cpu", (3, 5, 17, 19), engine=engine)
    assert all(r["ok"] for r in res.values()), (engine, res)
res = weight_triton.compare_engines("cpu")
assert all(r["ok"] for r in res.values()), res
print("ok")
"""


def interpreter_env(**extra: str) -> dict:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=path, **extra)


def test_triton_kernels_match_torch_path():
    pytest.importorskip("triton")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=interpreter_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def test_fused_kernels_pass_the_reference_tests():
    """The float64-reference tests of both quantizers, with the fused Triton engines forced
    (bit widths above 4 stay on the torch path for activations)."""
    pytest.importorskip("triton")
    env = interpreter_env(N2UQ_LTQ_ENGINE="triton", N2UQ_WQ_ENGINE="triton")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_quant_activation.py"),
         str(ROOT / "tests" / "test_quant_weight.py")],
        env=env, capture_output=True, text=True, timeout=900, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
