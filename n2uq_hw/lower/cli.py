"""``python -m n2uq_hw lower``: registry model (+ checkpoint) -> IR folder."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import torch

from models import build_model, parse_model_name
from n2uq_hw.checkpoint import expect_model, load_checkpoint
from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import save_ir
from n2uq_hw.lower.lowering import CIFAR_NORM, IMAGENET_NORM, calibrate_bn, lower_model, normalise


def synthetic_pixels(n: int, size: int, seed: int) -> torch.Tensor:
    """Smooth random uint8 images (seeded): calibration when no data is given."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(1, size // 8), max(1, size // 8), generator=g)
    img = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    return (img * 255).round().clamp(0, 255).to(torch.uint8)


def add_lower_options(p: argparse.ArgumentParser, *, model_required: bool = True,
                      images: int = 64) -> None:
    """The lowering options, shared by ``python -m n2uq_hw lower`` and ``rtl_gen build``."""
    if model_required:
        p.add_argument("--model", required=True, help="registry name, e.g. resnet18_w2a2")
    p.add_argument("--checkpoint", help="trained n2uq-hw checkpoint (default: seeded init)")
    p.add_argument("--calib", help="data (as for training) whose train split calibrates the "
                   "fixed-point formats (default: seeded synthetic images)")
    p.add_argument("--images", type=int, default=images,
                   help=f"calibration images (default {images})")
    p.add_argument("--seed", type=int, default=0, help="seed of init and synthetic images")
    p.add_argument("--residual-bits", type=int, help="fixed-point width (16; --precise 32)")
    p.add_argument("--stem-bits", type=int, choices=(8, 16, 24),
                   help="first-conv weight bits (8; --precise 24)")
    p.add_argument("--input-shift", type=int, choices=range(17), metavar="0..16",
                   help="first-conv input x' = pixel * 2^k - zero point, a finer padding value "
                   "(0; --precise 8)")
    p.add_argument("--precise", action="store_true",
                   help="defaults that track the float model closely (24-bit stem weights, "
                   "input shift 8, 32-bit stream) at a higher first-conv cost")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lower", help="lower an N2UQ model to the integer IR (docs/IR.md)")
    add_lower_options(p)
    p.add_argument("-o", "--out", help="IR folder (default build/MODEL/ir)")
    p.set_defaults(func=run)


# (option, default, default with --precise): see docs/BENCHMARKS.md "Integer IR vs float model"
PROFILES = (("residual_bits", 16, 32), ("stem_bits", 8, 24), ("input_shift", 0, 8))


def lower_from_args(args: argparse.Namespace):
    """Build, load or calibrate ``args.model`` and lower it; returns the LowerResult (its
    ``graph.meta`` says where weights and calibration came from)."""
    info = parse_model_name(args.model)
    for key, compact, precise in PROFILES:
        if getattr(args, key) is None:
            setattr(args, key, precise if args.precise else compact)
    if info.spec.method != "n2uq":
        fail(f"model {args.model} uses {info.spec.method}; the lowering takes N2UQ models")
    if args.images < 1:
        fail("--images must be >= 1")
    if not 8 <= args.residual_bits <= 32:
        fail("--residual-bits must be in 8..32")
    torch.manual_seed(args.seed)
    mean, std = IMAGENET_NORM if info.style == "imagenet" else CIFAR_NORM
    meta: dict = {"seed": args.seed}
    model = build_model(args.model)
    if args.checkpoint:
        ck = load_checkpoint(args.checkpoint)
        expect_model(ck, args.model, args.checkpoint)
        own, state = model.state_dict(), ck["state_dict"]
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            fail(f"checkpoint {args.checkpoint} does not match {args.model}: missing "
                 f"{', '.join(missing[:5]) or 'none'}; unexpected {', '.join(unexpected[:5]) or 'none'}")
        model = build_model(args.model, num_classes=ck["state_dict"]["fc.weight"].shape[0])
        model.load_state_dict(state)
        data = ck.get("data") or {}
        mean, std = data.get("mean", mean), data.get("std", std)
        meta["checkpoint"] = str(args.checkpoint)
        meta["checkpoint_sha256"] = hashlib.sha256(Path(args.checkpoint).read_bytes()).hexdigest()
    if args.calib:
        from n2uq_hw.data import eval_pixels, load_dataset

        splits = load_dataset(args.calib, image_size=info.input_size, val_size=1, split_seed=0)
        pixels = eval_pixels(splits.train, args.images)
        meta["calibration"] = f"first {len(pixels)} train images of {args.calib}"
    else:
        pixels = synthetic_pixels(args.images, info.input_size, args.seed)
        meta["calibration"] = f"{args.images} synthetic images (seed {args.seed})"
    if not args.checkpoint:
        calibrate_bn(model, normalise(pixels, mean, std))
        meta["weights"] = f"seeded initialisation (seed {args.seed}), BN calibrated on the " \
                          "calibration images"
    return lower_model(model, pixels, mean=mean, std=std, residual_bits=args.residual_bits,
                       stem_bits=args.stem_bits, input_shift=args.input_shift, meta=meta)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    res = lower_from_args(args)
    out = Path(args.out or f"build/{args.model}/ir")
    meta = res.graph.meta
    save_ir(res.graph, out)
    macs = sum(int(n.arrays["weight"][0].size) * int(torch.tensor(n.type.shape).prod())
               for n in res.graph.nodes if n.op in ("conv2d", "linear"))
    print(f"lowered {args.model}: {len(res.graph.nodes)} nodes, {macs / 1e6:.1f} MMAC, "
          f"{time.perf_counter() - start:.1f} s -> {out}")
    print(f"weights: {meta.get('checkpoint') or meta.get('weights')}; "
          f"calibration: {meta['calibration']}", file=sys.stderr)
    return 0
