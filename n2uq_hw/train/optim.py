"""Optimizer with a reduced-lr quantizer group, and per-step learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from n2uq_hw.errors import fail
from n2uq_hw.quant import quantizer_parameters

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("linear", "cosine", "constant")


def default_lr(optimizer: str, global_batch: int) -> float:
    """Paper: Adam 2.5e-3 at batch 512; SGD: 0.1 at batch 256; scaled linearly with batch."""
    return 2.5e-3 * global_batch / 512 if optimizer == "adam" else 0.1 * global_batch / 256


def build_optimizer(
    model: nn.Module, *, name: str, lr: float, weight_decay: float, quant_lr_scale: float
) -> torch.optim.Optimizer:
    """Two groups: ordinary parameters at ``lr``, quantizer parameters at ``lr * scale``
    (no weight decay on them)."""
    if name not in OPTIMIZERS:
        fail(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")
    quant = quantizer_parameters(model)
    qids = {id(p) for p in quant}
    rest = [p for p in model.parameters() if id(p) not in qids]
    groups = [{"params": rest, "lr": lr, "weight_decay": weight_decay}]
    if quant:
        groups.append({"params": quant, "lr": lr * quant_lr_scale, "weight_decay": 0.0})
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, kind: str, total_steps: int, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step multiplier: linear warmup, then linear decay to 0 / cosine / constant."""
    if kind not in SCHEDULES:
        fail(f"unknown schedule {kind!r} (known: {', '.join(SCHEDULES)})")
    total = max(1, total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
        if kind == "linear":
            return 1.0 - progress
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
