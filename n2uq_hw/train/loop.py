"""One training epoch and one evaluation pass."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from n2uq_hw.train.distributed import Context, all_reduce_sum
from n2uq_hw.train.losses import soft_cross_entropy


@dataclass
class EpochStats:
    loss: float
    acc: float
    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(
    model: nn.Module,
    teacher: nn.Module | None,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ctx: Context,
    *,
    desc: str,
    progress: bool,
) -> EpochStats:
    """Train for one pass over ``loader``: KD loss against ``teacher`` when given, else CE."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
    correct = torch.zeros((), dtype=torch.int64, device=ctx.device)
    seen = 0
    _sync(ctx.device)
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, disable=not (progress and ctx.main), leave=False,
               dynamic_ncols=True, unit="batch")
    for step, (images, labels) in enumerate(bar):
        logits = model(images)
        if teacher is not None:
            with torch.no_grad():
                target = teacher(images)
            loss = soft_cross_entropy(logits, target)
        else:
            loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n = labels.numel()
        seen += n
        loss_sum += loss.detach().double() * n
        correct += (logits.detach().argmax(1) == labels).sum()
        if bar.disable is False and (step % 10 == 0):
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}",
                            acc=f"{100 * correct.item() / seen:.1f}",
                            img_s=f"{seen * ctx.world_size / max(elapsed, 1e-9):.0f}")
    _sync(ctx.device)
    seconds = time.perf_counter() - start
    total_loss, total_correct, total = all_reduce_sum(
        [loss_sum.item(), float(correct.item()), float(seen)], ctx
    )
    return EpochStats(total_loss / max(total, 1), 100 * total_correct / max(total, 1),
                      int(total), seconds)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, ctx: Context) -> EpochStats:
    """Top-1 accuracy and cross-entropy on ``loader`` (summed over ranks)."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    for images, labels in loader:
        logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(1) == labels).sum())
        seen += labels.numel()
    seconds = time.perf_counter() - start
    total_loss, total_correct, total = all_reduce_sum([loss_sum, float(correct), float(seen)], ctx)
    return EpochStats(total_loss / max(total, 1), 100 * total_correct / max(total, 1),
                      int(total), seconds)
