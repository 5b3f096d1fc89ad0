"""Integer IR vs float model on CIFAR-10: per-node isolation, codes and top-1 agreement.

    python bench/lower_agreement.py --checkpoint bench/results/run1/resnet20_w2a2_seed0.pt \
        --data ../shared/data/cifar10-train-jpg.tgz --images 1000

Also measures how much the float model itself moves under tiny noise on its residual
stream (the sensitivity that bounds any fixed-point deployment's top-1 agreement).
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
from n2uq_hw.checkpoint import load_checkpoint
from n2uq_hw.data import load_dataset
from n2uq_hw.lower import lower_model, trace
from n2uq_hw.lower.check import end_to_end, isolated
from n2uq_hw.lower.lowering import normalise


def noise_sensitivity(model, x, eps_list):
    with torch.no_grad():
        clean = model(x).argmax(1)
        out = {}
        for eps in eps_list:
            hooks = [b.act_out.register_forward_hook(
                lambda mod, i, o, e=eps: o + (torch.rand_like(o) - 0.5) * 2 * e)
                for st in model.stages for b in st]
            out[str(eps)] = float((model(x).argmax(1) == clean).double().mean())
            for h in hooks:
                h.remove()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--calib-images", type=int, default=256)
    p.add_argument("--json")
    a = p.parse_args()
    torch.manual_seed(0)
    ck = load_checkpoint(a.checkpoint)
    model = build_model(ck["model"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    mean, std = ck["data"]["mean"], ck["data"]["std"]
    splits = load_dataset(a.data, image_size=model.info.input_size, val_size=5000, split_seed=0)
    px, labels = splits.val.images[: a.images], splits.val.labels[: a.images]
    results = {"model": ck["model"], "checkpoint": a.checkpoint, "images": len(px)}
    for stem_bits, shift, res_bits in ((8, 0, 16), (16, 0, 24), (16, 8, 24), (16, 8, 32)):
        t = time.perf_counter()
        low = lower_model(model, splits.train.images[: a.calib_images], mean=mean, std=std,
                          stem_bits=stem_bits, residual_bits=res_bits, input_shift=shift)
        lower_s = time.perf_counter() - t
        tr = trace(model, low.graph, px)
        refs = tr.refs
        t = time.perf_counter()
        e2e = end_to_end(low.graph, refs, px, labels)
        e2e["reference_seconds"] = time.perf_counter() - t
        iso = isolated(low.graph, {k: v[:200] for k, v in refs.items()}, px[:200],
                       {k: v[:200] for k, v in tr.ties.items()})
        key = f"stem{stem_bits}_shift{shift}_res{res_bits}"
        results[key] = {"lower_seconds": lower_s, "end_to_end": e2e, "isolated": iso}
        codes = list(e2e["codes"].values())
        acc_thr = [r["agreement"] for r in iso if r["kind"] == "code" and r["input_kind"] == "acc"]
        beyond = sum(r["mismatches_beyond_ties"] for r in iso
                     if r["kind"] == "code" and r["input_kind"] == "acc")
        fix_thr = [r["agreement"] for r in iso if r["kind"] == "code" and r["input_kind"] == "fixed"]
        print(f"{key}: top-1 float {e2e['top1_float']:.4f} integer {e2e['top1_integer']:.4f} "
              f"agreement {e2e['top1_agreement']:.4f}; codes end-to-end min {min(codes):.4f} "
              f"first {codes[0]:.5f}; isolated: acc thresholds min {min(acc_thr):.6f} "
              f"({beyond} beyond float32 ties), "
              f"fixed thresholds min {min(fix_thr):.6f}", flush=True)
    x = normalise(px, mean, std)
    results["float_noise_top1_agreement"] = noise_sensitivity(model, x, [2**-20, 2**-16, 2**-12])
    print("float model under uniform noise on block outputs, top-1 agreement:",
          results["float_noise_top1_agreement"])
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
