"""Orchestrates a training run: data, model, teacher, init, resume, epochs, checkpoints."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models import build_model, parse_model_name
from n2uq_hw.checkpoint import (
    FORMAT,
    VERSION,
    atomic_save,
    expect_model,
    init_from_state_dict,
    load_checkpoint,
)
from n2uq_hw.errors import fail
from n2uq_hw.train import distributed
from n2uq_hw.train.config import RESULT_KEYS, TrainConfig
from n2uq_hw.train.loop import evaluate, train_epoch
from n2uq_hw.train.optim import build_optimizer, build_scheduler, default_lr


def log(ctx: distributed.Context, msg: str) -> None:
    if ctx.main:
        print(msg, file=sys.stderr, flush=True)


def _merge_resume(cfg: TrainConfig, explicit: dict[str, Any], stored: TrainConfig) -> TrainConfig:
    """A resumed run keeps the stored recipe; an explicit different value is an error."""
    for key, value in explicit.items():
        if getattr(stored, key) != value:
            fail(
                f"--{key.replace('_', '-')} {value} differs from the checkpoint's "
                f"{getattr(stored, key)}; a resumed run keeps its stored settings"
            )
    merged = TrainConfig.from_dict(stored.as_dict())
    for key in ("device", "workers", "stop_after_epoch", "progress", "compile", "out"):
        setattr(merged, key, getattr(cfg, key))
    merged.data = cfg.data or stored.data
    merged.resume = True
    return merged


def load_teacher(path: str, num_classes: int, device: torch.device) -> nn.Module:
    """A frozen model from an n2uq-hw checkpoint (any registry model, usually ``*_fp``)."""
    ck = load_checkpoint(path)
    teacher = build_model(ck["model"], num_classes=num_classes)
    own, state = teacher.state_dict(), ck["state_dict"]
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        fail(f"teacher checkpoint {path} does not match its model {ck['model']!r} "
             f"with {num_classes} classes")
    teacher.load_state_dict(state)
    teacher.eval().requires_grad_(False)
    return teacher.to(device)


def train(cfg: TrainConfig, explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run (or resume) a training job; returns the summary written to ``summary.json``."""
    ctx = distributed.setup(cfg.device)
    try:
        return _train(cfg, explicit or {}, ctx)
    finally:
        distributed.teardown(ctx)


def _train(cfg: TrainConfig, explicit: dict[str, Any], ctx: distributed.Context) -> dict[str, Any]:
    from n2uq_hw.data import load_dataset, make_loader

    if cfg.model:
        parse_model_name(cfg.model)
    out = Path(cfg.out or f"runs/{cfg.model}")
    last, best_path = out / "last.pt", out / "best.pt"
    state = None
    if cfg.resume:
        if not last.is_file():
            fail(f"--resume: {last} does not exist (nothing to continue)")
        state = load_checkpoint(last)
        if cfg.model:
            expect_model(state, cfg.model, last)
        cfg = _merge_resume(cfg, explicit, TrainConfig.from_dict(state["config"]))
    elif last.exists() or best_path.exists():
        fail(f"{out} already holds a run; pass --resume to continue it or --out for a new run")
    cfg.out = str(out)
    cfg.validate()
    info = parse_model_name(cfg.model)
    if cfg.batch_size % ctx.world_size:
        fail(f"--batch-size {cfg.batch_size} is not divisible by {ctx.world_size} processes")
    per_rank = cfg.batch_size // ctx.world_size
    lr = cfg.lr if cfg.lr is not None else default_lr(cfg.optimizer, cfg.batch_size)

    torch.manual_seed(cfg.seed)
    if ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    splits = load_dataset(cfg.data, image_size=info.input_size, val_size=cfg.val_size,
                          split_seed=cfg.split_seed)
    log(ctx, f"data: {len(splits.train)} train images, {len(splits.val)} val images "
             f"({splits.val_source}), {splits.num_classes} classes")
    model = build_model(cfg.model, num_classes=splits.num_classes)
    if cfg.init and state is None:
        ck = load_checkpoint(cfg.init, require_format=False)
        log(ctx, init_from_state_dict(model, ck["state_dict"], cfg.init))
    teacher = load_teacher(cfg.teacher, splits.num_classes, ctx.device) if cfg.teacher else None
    model.to(ctx.device)

    train_loader = make_loader(splits.train, batch_size=per_rank, train=True, device=ctx.device,
                               seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size,
                               workers=cfg.workers)
    val_loader = make_loader(splits.val, batch_size=per_rank, train=False, device=ctx.device,
                             seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size,
                             workers=cfg.workers)
    if len(train_loader) == 0:
        fail(f"--batch-size {cfg.batch_size} exceeds the {len(splits.train)} training images")
    if state is None:  # data-dependent quantizer init (LSQ) on a fixed first batch
        train_loader.set_epoch(0)
        with torch.no_grad():
            model.eval()(next(iter(train_loader))[0])
    optimizer = build_optimizer(model, name=cfg.optimizer, lr=lr, weight_decay=cfg.weight_decay,
                                quant_lr_scale=cfg.quant_lr_scale)
    steps = len(train_loader)
    scheduler = build_scheduler(optimizer, kind=cfg.schedule, total_steps=cfg.epochs * steps,
                                warmup_steps=cfg.warmup_epochs * steps)
    start_epoch, best_acc, history = 0, -1.0, []
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_acc, history = state["epoch"], state["best_acc"], list(state["history"])
        log(ctx, f"resuming {cfg.model} from {last} after epoch {start_epoch}/{cfg.epochs}")
    runner: nn.Module = model
    if ctx.distributed:
        runner = nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if cfg.compile:
        runner = torch.compile(runner)

    data_info = {"classes": splits.classes, "mean": list(splits.mean), "std": list(splits.std),
                 "style": splits.style, "val_source": splits.val_source}
    wall = time.perf_counter()
    stopped_early = False
    for epoch in range(start_epoch, cfg.epochs):
        train_loader.set_epoch(epoch)
        tr = train_epoch(runner, teacher, train_loader, optimizer, scheduler, ctx,
                         desc=f"epoch {epoch + 1}/{cfg.epochs}", progress=cfg.progress)
        va = evaluate(runner, val_loader, ctx)
        record = {"epoch": epoch + 1, "train_loss": tr.loss, "train_acc": tr.acc,
                  "val_loss": va.loss, "val_acc": va.acc, "train_images_per_s": tr.images_per_s,
                  "epoch_seconds": tr.seconds + va.seconds, "lr": scheduler.get_last_lr()[0]}
        history.append(record)
        improved = va.acc > best_acc
        best_acc = max(best_acc, va.acc)
        if ctx.main:
            ck = {"format": FORMAT, "version": VERSION, "model": cfg.model,
                  "config": cfg.as_dict(), "state_dict": model.state_dict(),
                  "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                  "epoch": epoch + 1, "best_acc": best_acc, "history": history,
                  "data": data_info, "torch": str(torch.__version__)}
            atomic_save(ck, last)
            if improved:
                atomic_save(ck, best_path)
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
        log(ctx, f"epoch {epoch + 1}/{cfg.epochs}: train loss {tr.loss:.4f} acc {tr.acc:.2f}% "
                 f"| val loss {va.loss:.4f} acc {va.acc:.2f}% | {tr.images_per_s:.0f} img/s")
        distributed.barrier(ctx)
        if cfg.stop_after_epoch and epoch + 1 >= cfg.stop_after_epoch and epoch + 1 < cfg.epochs:
            stopped_early = True
            log(ctx, f"stopping after epoch {epoch + 1} as asked; continue with --resume")
            break

    final = history[-1] if history else {}
    summary = {
        "model": cfg.model, "out": str(out), "device": str(ctx.device),
        "world_size": ctx.world_size, "epochs_done": final.get("epoch", 0),
        "epochs": cfg.epochs, "finished": not stopped_early and bool(history),
        "final_val_acc": final.get("val_acc"), "best_val_acc": best_acc if history else None,
        "final_train_loss": final.get("train_loss"),
        "train_images_per_s": final.get("train_images_per_s"),
        "wall_seconds": time.perf_counter() - wall, "val_source": splits.val_source,
        "teacher": cfg.teacher, "init": cfg.init, "lr": lr,
        "config": {k: getattr(cfg, k) for k in RESULT_KEYS},
    }
    if ctx.main:
        atomic_json(summary, out / "summary.json")
        print(json.dumps(summary, indent=2))
    return summary


def atomic_json(obj: Any, path: Path) -> None:
    """Write JSON via a temporary file and rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)
