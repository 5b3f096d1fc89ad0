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

SCRIPT = r"""
import os, torch
from n2uq_hw.quant import N2UQActQuant
torch.manual_seed(0)
for bits in (2, 3, 4):
    q = N2UQActQuant(bits)
    with torch.no_grad():
        q.s.fill_(-0.3); q.a.uniform_(0.0005, 0.9); q.beta1.fill_(1.3); q.beta2.fill_(0.7)
    x = torch.randn(3, 5, 17, 19) * 2
    g = torch.randn_like(x)
    res = {}
    for eng in ("torch", "triton"):
        os.environ["N2UQ_LTQ_ENGINE"] = eng
        q.zero_grad()
        xx = x.clone().requires_grad_(True)
        y = q(xx)
        (y * g).sum().backward()
        res[eng] = [y.detach(), xx.grad, q.s.grad, q.a.grad, q.beta1.grad, q.beta2.grad]
    t, k = res["torch"], res["triton"]
    assert torch.equal(t[0], k[0]) and torch.equal(t[1], k[1]), bits
    for u, v in zip(t[2:], k[2:]):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-4)
print("ok")
"""


def test_triton_kernels_match_torch_path():
    pytest.importorskip("triton")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
