"""Training step time: full precision vs N2UQ (fused quantizer) vs a naive quantizer.

The naive LTQ builds its output and its G-STE surrogate from N per-level step and ramp
functions (2N full-size temporaries), the way the public N2UQ code does. Run:

    python bench/step_time.py --model resnet20 --batch-size 256 [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import build_model
from n2uq_hw.quant import N2UQActQuant
from n2uq_hw.quant.activation import clamped_lengths


def naive_ltq_forward(self: N2UQActQuant, x: torch.Tensor) -> torch.Tensor:
    """Reference-style LTQ: sum of N steps plus an N-piece ramp surrogate."""
    n, step = self.levels, 2.0 / self.levels
    a_hat = clamped_lengths(self.a)
    u = x * self.beta1
    hard = torch.zeros_like(u)
    soft = torch.zeros_like(u)
    left = self.s
    for i in range(n):
        hard = hard + (u > left + a_hat[i] / 2).to(u.dtype) * step
        soft = soft + torch.clamp((u - left) / a_hat[i], 0, 1) * step
        left = left + a_hat[i]
    return self.beta2 * (hard.detach() + soft - soft.detach())


def time_steps(model: torch.nn.Module, batch: int, size: int, device: torch.device,
               warmup: int, steps: int) -> float:
    """Median milliseconds of one Adam training step on random data."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    return 1000 * times[len(times) // 2]


def check_engines(device: torch.device) -> dict:
    """Triton vs torch LTQ paths on the same random data (see ``compare_engines``)."""
    from n2uq_hw.quant.ltq_triton import compare_engines

    return compare_engines(device)


def measure(arch: str, batch: int, device: torch.device, warmup: int, steps: int) -> dict:
    results = {}
    variants = [("fp", f"{arch}_fp", False, None), ("n2uq_fused", f"{arch}_w2a2", False, None),
                ("n2uq_naive", f"{arch}_w2a2", True, None), ("lsq", f"{arch}_w2a2_lsq", False, None),
                ("dorefa", f"{arch}_w2a2_dorefa", False, None)]
    if device.type == "cuda":
        variants.insert(2, ("n2uq_fused_torch_engine", f"{arch}_w2a2", False, "torch"))
    original = N2UQActQuant.forward
    for label, name, naive, engine in variants:
        torch.manual_seed(0)
        model = build_model(name, num_classes=10)
        N2UQActQuant.forward = naive_ltq_forward if naive else original
        if engine:
            os.environ["N2UQ_LTQ_ENGINE"] = engine
        try:
            size = model.info.input_size
            results[label] = time_steps(model, batch, size, device, warmup, steps)
        finally:
            N2UQActQuant.forward = original
            os.environ.pop("N2UQ_LTQ_ENGINE", None)
    fp = results["fp"]
    return {"arch": arch, "batch": batch, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "ms_per_step": results, "ratio_to_fp": {k: v / fp for k, v in results.items()},
            "torch": torch.__version__}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20", help="architecture (resnet20, resnet18, ...)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args()
    device = torch.device(a.device)
    if device.type == "cuda":
        print("triton vs torch engine:", json.dumps(check_engines(device)))
    res = measure(a.model, a.batch_size, device, a.warmup, a.steps)
    for k, v in res["ms_per_step"].items():
        print(f"{k:12s} {v:9.2f} ms/step  {res['ratio_to_fp'][k]:5.2f}x FP")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
