"""Command line of ``python -m n2uq_hw.train``."""

from __future__ import annotations

import argparse
from pathlib import Path

from n2uq_hw.train.config import RESULT_KEYS, TrainConfig
from n2uq_hw.train.optim import OPTIMIZERS, SCHEDULES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m n2uq_hw.train",
        description="Train an N2UQ (or LSQ / DoReFa / full-precision) network. Defaults follow "
        "the paper: Adam, lr 2.5e-3 per 512 images, linear decay to 0, quantizer "
        "parameters at lr/10, no weight decay, distillation from --teacher.",
    )
    d = TrainConfig("", "")
    p.add_argument("--model", help="registry name, e.g. resnet20_w2a2 (see models/registry.py)")
    p.add_argument("--data", help="ImageFolder root (train/ [val/]), its .tgz, or CIFAR-10 python batches")
    p.add_argument("--out", help="run folder (default runs/MODEL); holds last.pt, best.pt, log.jsonl")
    p.add_argument("--teacher", help="frozen full-precision checkpoint for distillation (else labels)")
    p.add_argument("--init", help="initialise from this (full-precision) checkpoint, strict key check")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    g = p.add_argument_group("recipe (stored in the checkpoint; a resumed run keeps them)")
    g.add_argument("--epochs", type=int, help=f"default {d.epochs}")
    g.add_argument("--batch-size", type=int, help=f"global batch (default {d.batch_size})")
    g.add_argument("--lr", type=float, help="default: 2.5e-3*B/512 for adam, 0.1*B/256 for sgd")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.optimizer}")
    g.add_argument("--schedule", choices=SCHEDULES, help=f"default {d.schedule}")
    g.add_argument("--warmup-epochs", type=int, help="linear warmup epochs (default 0)")
    g.add_argument("--weight-decay", type=float, help=f"default {d.weight_decay}")
    g.add_argument("--quant-lr-scale", type=float, help=f"quantizer lr factor (default {d.quant_lr_scale})")
    g.add_argument("--seed", type=int, help="model init, shuffling and augmentation (default 0)")
    g.add_argument("--val-size", type=int, help="held-out images when there is no val split (default 5000)")
    g.add_argument("--split-seed", type=int, help="seed of the held-out split (default 0)")
    r = p.add_argument_group("execution")
    r.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N (default auto)")
    r.add_argument("--workers", type=int, default=d.workers, help="decode workers for large images")
    r.add_argument("--stop-after-epoch", type=int, help="stop after this epoch (continue with --resume)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--demo", action="store_true", help="train a small model on generated data (~1 min)")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Fill defaults for every option the user did not give."""
    cfg = TrainConfig(model=args.model or "", data=args.data or "")
    for key in RESULT_KEYS + ("out",):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg, key, value)
    cfg.device, cfg.workers = args.device, args.workers
    cfg.stop_after_epoch = args.stop_after_epoch
    cfg.progress = not args.no_progress
    cfg.compile, cfg.resume = args.compile, args.resume
    return cfg


def given(args: argparse.Namespace) -> dict[str, object]:
    """The result-affecting options the user set explicitly."""
    return {k: getattr(args, k) for k in RESULT_KEYS if getattr(args, k, None) is not None}


def main(argv: list[str] | None = None) -> int:
    from n2uq_hw.errors import fail
    from n2uq_hw.train.demo import run_demo
    from n2uq_hw.train.runner import train

    args = parser().parse_args(argv)
    if args.demo:
        out = Path(args.out or "runs/demo")
        return run_demo(out, device=args.device, progress=not args.no_progress)
    if not args.model:
        fail("--model is required (e.g. --model resnet20_w2a2)")
    if not args.data and not args.resume:
        fail("--data is required (an ImageFolder root, its .tgz, or CIFAR-10 python batches)")
    train(config_from_args(args), explicit=given(args))
    return 0


__all__ = ["main", "parser"]
