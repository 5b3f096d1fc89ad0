"""resnet18_w2a2 at 224x224: lowering and reference-executor time, and integer vs float
agreement for a seeded model whose BN statistics are calibrated on synthetic images.

    python bench/lower_resnet18.py --images 200 [--precise] --json bench/results/lower_resnet18.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import build_model
from n2uq_hw.lower import calibrate_bn, lower_model, trace
from n2uq_hw.lower.check import end_to_end, isolated
from n2uq_hw.lower.cli import synthetic_pixels
from n2uq_hw.lower.lowering import IMAGENET_NORM, normalise
from n2uq_hw.reference import run_ir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18_w2a2")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--calib-images", type=int, default=32)
    p.add_argument("--precise", action="store_true",
                   help="24-bit stem weights, input shift 8, 32-bit stream (lower --precise)")
    p.add_argument("--json")
    a = p.parse_args()
    torch.manual_seed(0)
    model = build_model(a.model)
    mean, std = IMAGENET_NORM
    calib = synthetic_pixels(a.calib_images, 224, 0)
    calibrate_bn(model, normalise(calib, mean, std))
    t = time.perf_counter()
    opts = {"stem_bits": 24, "input_shift": 8, "residual_bits": 32} if a.precise else {}
    low = lower_model(model, calib[:8], mean=mean, std=std, **opts)
    lower_s = time.perf_counter() - t
    one = synthetic_pixels(1, 224, 1)
    t = time.perf_counter()
    run_ir(low.graph, one, keep=False)
    one_s = time.perf_counter() - t
    print(f"lowering {lower_s:.1f} s (8 calibration images); reference, one 224x224 image: "
          f"{one_s:.2f} s", flush=True)
    res = {"model": a.model, "options": opts or "default", "lower_seconds": lower_s, "reference_one_image_seconds": one_s}
    px = synthetic_pixels(a.images, 224, 2)
    e2e = {"top1_agreement": 0.0, "codes": {}}
    chunks = []
    for part in px.split(25):
        tr = trace(model, low.graph, part)
        chunks.append((end_to_end(low.graph, tr.refs, part), len(part)))
        if len(chunks) == 1:
            iso = isolated(low.graph, tr.refs, part, tr.ties)
    n = sum(k for _, k in chunks)
    e2e["top1_agreement"] = sum(r["top1_agreement"] * k for r, k in chunks) / n
    for name in chunks[0][0]["codes"]:
        e2e["codes"][name] = sum(r["codes"][name] * k for r, k in chunks) / n
    beyond = sum(r.get("mismatches_beyond_ties", 0) for r in iso if r["kind"] == "code"
                 and r["input_kind"] == "acc")
    codes = list(e2e["codes"].values())
    print(f"{n} synthetic images: top-1 agreement {e2e['top1_agreement']:.4f}; codes end to "
          f"end: first layer {codes[0]:.5f}, worst {min(codes):.4f}; isolated acc thresholds: "
          f"{beyond} mismatches beyond float32 ties")
    res.update(images=n, end_to_end=e2e, isolated=iso)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
