"""Training step time: full precision vs N2UQ (fused quantizer) vs a naive quantizer.

The naive LTQ builds its output and its G-STE surrogate from N per-level step and ramp
functions (2N full-size temporaries), the way the public N2UQ code does. Run:

    python bench/step_time.py --model resnet20 --batch-size 256 [--device cuda]

On CUDA the Triton engines are first checked against the torch path; the variants are
``n2uq_fused`` (the defaults: fused activation and weight kernels),
``n2uq_fused_torch_weights`` (fused activation kernels, torch weight quantizer),
``n2uq_triton_v1`` (the first Triton kernels with ~40 torch ops of parameter-side math per
quantizer, the previous default), the pure torch path, the naive quantizer, LSQ, DoReFa,
and the FP step a second time (``fp_again``) as a measure of the noise.
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


ENGINE_VARS = ("N2UQ_LTQ_ENGINE", "N2UQ_WQ_ENGINE")


def check_engines(device: torch.device) -> dict:
    """Each Triton engine against the torch path on the same random data (see the
    ``compare_engines`` functions); an engine that raises is reported, not fatal."""
    from n2uq_hw.quant import ltq_triton, weight_triton

    checks = {"act_triton": lambda: ltq_triton.compare_engines(device, engine="triton"),
              "act_triton_v1": lambda: ltq_triton.compare_engines(device, engine="triton_v1"),
              "weight_triton": lambda: weight_triton.compare_engines(device)}
    out = {}
    for name, check in checks.items():
        try:
            res = check()
            out[name] = {"ok": all(r["ok"] for r in res.values()), "bits": res}
        except Exception as exc:  # noqa: BLE001 - report any kernel failure, fall back
            out[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:800]}
    return out


def engine_env(checks: dict) -> dict:
    """Engine variables for training: the fused engines where their checks passed, else
    the first Triton version, else the torch path. Empty when every check passed."""
    env = {}
    if checks and not checks.get("act_triton", {}).get("ok", False):
        v1 = checks.get("act_triton_v1", {}).get("ok", False)
        env["N2UQ_LTQ_ENGINE"] = "triton_v1" if v1 else "torch"
    if checks and not checks.get("weight_triton", {}).get("ok", False):
        env["N2UQ_WQ_ENGINE"] = "torch"
    return env


def variants(arch: str, device: torch.device) -> list[tuple[str, str, bool, dict]]:
    """(label, model, naive LTQ, engine variables) per timed configuration."""
    torch_q = {"N2UQ_LTQ_ENGINE": "torch", "N2UQ_WQ_ENGINE": "torch"}
    out = [("fp", f"{arch}_fp", False, {}),
           ("n2uq_fused", f"{arch}_w2a2", False, {})]  # the defaults (fused kernels on CUDA)
    if device.type == "cuda":
        out += [("n2uq_fused_torch_weights", f"{arch}_w2a2", False, {"N2UQ_WQ_ENGINE": "torch"}),
                ("n2uq_triton_v1", f"{arch}_w2a2", False,
                 {"N2UQ_LTQ_ENGINE": "triton_v1", "N2UQ_WQ_ENGINE": "torch"}),
                ("n2uq_fused_torch_engine", f"{arch}_w2a2", False, torch_q)]
    out += [("n2uq_naive", f"{arch}_w2a2", True, {"N2UQ_WQ_ENGINE": "torch"}),
            ("lsq", f"{arch}_w2a2_lsq", False, {}), ("dorefa", f"{arch}_w2a2_dorefa", False, {}),
            ("fp_again", f"{arch}_fp", False, {})]  # the same FP step, timed last: the noise
    return out


def measure(arch: str, batch: int, device: torch.device, warmup: int, steps: int,
            base_env: dict | None = None) -> dict:
    """Median ms per step of every variant. ``base_env`` (engine fallbacks) applies to
    every variant that does not set the variable itself; a variant that fails is reported
    under ``errors`` and left out of the timings."""
    results, errors, used = {}, {}, {}
    original = N2UQActQuant.forward
    for label, name, naive, env in variants(arch, device):
        env = {**(base_env or {}), **env}
        saved = {k: os.environ.get(k) for k in ENGINE_VARS}
        torch.manual_seed(0)
        model = build_model(name, num_classes=10)
        N2UQActQuant.forward = naive_ltq_forward if naive else original
        os.environ.update(env)
        try:
            size = model.info.input_size
            results[label] = time_steps(model, batch, size, device, warmup, steps)
            used[label] = env
        except Exception as exc:  # noqa: BLE001 - keep timing the other variants
            errors[label] = f"{type(exc).__name__}: {exc}"[:800]
        finally:
            N2UQActQuant.forward = original
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        print(f"{label:26s} {results.get(label, float('nan')):9.2f} ms/step", flush=True)
    fp = results.get("fp", float("nan"))
    return {"arch": arch, "batch": batch, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "ms_per_step": results, "ratio_to_fp": {k: v / fp for k, v in results.items()},
            "engine_env": used, "errors": errors, "warmup": warmup, "steps": steps,
            "torch": torch.__version__, "triton": _triton_version()}


def _triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


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
    checks = check_engines(device) if device.type == "cuda" else {}
    if checks:
        print("engine checks:", json.dumps(checks), flush=True)
    fallback = engine_env(checks)
    if fallback:
        print("engine fallback for the default variants:", fallback, flush=True)
    res = measure(a.model, a.batch_size, device, a.warmup, a.steps, fallback)
    res["engine_check"], res["engine_fallback"] = checks, fallback
    for k, v in res["ms_per_step"].items():
        print(f"{k:26s} {v:9.2f} ms/step  {res['ratio_to_fp'][k]:5.2f}x FP")
    for k, v in res["errors"].items():
        print(f"{k:26s} failed: {v}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
