"""Performance-model predictions (cycles, MAC-array utilisation, FPS) per model and target.

    python bench/predict.py --json bench/results/predict.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import build_model, parse_model_name
from n2uq_hw.lower import calibrate_bn, lower_model
from n2uq_hw.lower.cli import synthetic_pixels
from n2uq_hw.lower.lowering import CIFAR_NORM, IMAGENET_NORM, normalise
from rtl_gen.compile.perf import program_perf, summary
from rtl_gen.compile.program import compile_layers
from rtl_gen.config import EngineConfig

CASES = [("resnet18_w2a2", "ecp5-85k", {}), ("resnet18_w2a2", "ecp5-85k", {"pe": 32}),
         ("resnet18_w2a2", "ecp5-85k", {"precise": True}),
         ("resnet18_w2a2", "ecp5-25k", {}), ("resnet18_w4a4", "ecp5-85k", {}),
         ("resnet50_w2a2", "ecp5-85k", {}), ("resnet20_w2a2", "ecp5-85k", {}),
         ("resnet20_w2a2", "ecp5-85k", {"simd": 16}), ("resnet20_w2a2", "ice40-up5k", {})]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    for model, target, opts in CASES:
        torch.manual_seed(0)
        info = parse_model_name(model)
        net = build_model(model)
        norm = IMAGENET_NORM if info.style == "imagenet" else CIFAR_NORM
        calib = synthetic_pixels(4, info.input_size, 0)
        calibrate_bn(net, normalise(calib, *norm), batches=1)
        prof = {"stem_bits": 24, "input_shift": 8, "residual_bits": 32} if opts.get(
            "precise") else {}
        graph = lower_model(net, calib, mean=norm[0], std=norm[1], **prof).graph
        cfg = EngineConfig.for_target(target, pe=opts.get("pe"), simd=opts.get("simd"))
        s = summary(program_perf(compile_layers(graph, cfg)), cfg.clock_mhz)
        row = {"model": model, "target": target, "pe": cfg.pe, "simd": cfg.simd,
               "profile": "precise" if opts.get("precise") else "default", **s}
        rows.append(row)
        print(f"{model:15s} {row['profile']:8s} {target:11s} {cfg.pe}x{cfg.simd}: "
              f"{s['cycles']:>12,} cycles, utilisation {100 * s['utilisation']:5.1f}%, "
              f"{s['fps']:8.1f} fps at {cfg.clock_mhz} MHz", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
