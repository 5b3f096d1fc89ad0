"""Integer IR vs float model on CIFAR-10: per-node isolation, codes and top-1 agreement.

    python bench/lower_agreement.py --checkpoint bench/results/run1/resnet20_w2a2_seed0.pt \
        --data ../shared/data/cifar10-train-jpg.tgz --images 5000 \
        --json bench/results/lower_agreement_resnet20.json

Also measures how much the float model itself moves under tiny noise on its residual
stream (the sensitivity that bounds any fixed-point deployment's top-1 agreement), and
whether float32 rounding is a noise source (top-1 agreement with a float64 copy).
"""

from __future__ import annotations

import argparse
import copy
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


def chunked_end_to_end(model, graph, px, labels, chunk):
    """``end_to_end`` over chunks of images (the float refs of every node stay small)."""
    total, seconds, acc = 0, 0.0, {}
    for i in range(0, len(px), chunk):
        x, y = px[i:i + chunk], labels[i:i + chunk]
        refs = trace(model, graph, x).refs
        t = time.perf_counter()
        part = end_to_end(graph, refs, x, y)
        seconds += time.perf_counter() - t
        n = part["images"]
        for k in ("top1_agreement", "top1_float", "top1_integer"):
            acc[k] = acc.get(k, 0.0) + part[k] * n
        for k, v in part["codes"].items():
            acc.setdefault("codes", {})[k] = acc.get("codes", {}).get(k, 0.0) + v * n
        total += n
    out = {"images": total, **{k: v / total for k, v in acc.items() if k != "codes"},
           "codes": {k: v / total for k, v in acc["codes"].items()}}
    return out, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--calib-images", type=int, default=256)
    p.add_argument("--chunk", type=int, default=500, help="images per reference run")
    p.add_argument("--configs", nargs="+", default=["8,0,16", "16,8,24", "24,8,24", "24,8,32"],
                   help="first-conv weight bits,input shift,residual bits triples")
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
    for stem_bits, shift, res_bits in (tuple(map(int, c.split(","))) for c in a.configs):
        t = time.perf_counter()
        low = lower_model(model, splits.train.images[: a.calib_images], mean=mean, std=std,
                          stem_bits=stem_bits, residual_bits=res_bits, input_shift=shift)
        lower_s = time.perf_counter() - t
        e2e, ref_s = chunked_end_to_end(model, low.graph, px, labels, a.chunk)
        e2e["reference_seconds"] = ref_s
        tr = trace(model, low.graph, px[:200])
        iso = isolated(low.graph, tr.refs, px[:200], tr.ties)
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
        if a.json:  # keep what is done so far
            Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    x = normalise(px, mean, std)
    results["float_noise_top1_agreement"] = noise_sensitivity(model, x[:1000],
                                                              [2**-20, 2**-16, 2**-12])
    print("float model under uniform noise on block outputs, top-1 agreement:",
          results["float_noise_top1_agreement"])
    with torch.no_grad():  # is float32 itself a noise source? compare with a float64 twin
        twin = copy.deepcopy(model).double()
        same = (model(x).argmax(1) == twin(x.double()).argmax(1)).double().mean()
    results["float32_vs_float64_top1_agreement"] = float(same)
    print(f"float32 vs float64 model, top-1 agreement: {float(same):.4f}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
