"""Training configuration: defaults follow the paper's recipe (shared/N2UQ.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from n2uq_hw.errors import fail

# keys that change the result: a resumed run must keep them
RESULT_KEYS = (
    "model", "epochs", "batch_size", "lr", "optimizer", "schedule", "warmup_epochs",
    "weight_decay", "quant_lr_scale", "teacher", "init", "seed", "val_size", "split_seed",
)


@dataclass
class TrainConfig:
    """Everything a training run depends on. ``lr=None`` means the scaled paper default."""

    model: str
    data: str
    out: str = ""
    epochs: int = 128
    batch_size: int = 256  # global, split evenly over ranks
    lr: float | None = None
    optimizer: str = "adam"
    schedule: str = "linear"
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    quant_lr_scale: float = 0.1
    teacher: str | None = None
    init: str | None = None
    seed: int = 0
    val_size: int = 5000
    split_seed: int = 0
    workers: int = 4
    device: str = "auto"
    stop_after_epoch: int | None = None
    progress: bool = True
    compile: bool = False
    resume: bool = False

    def validate(self) -> TrainConfig:
        if self.epochs < 1:
            fail(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            fail(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            fail(f"--lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.quant_lr_scale < 0:
            fail("--weight-decay and --quant-lr-scale must be >= 0")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs:
            fail(f"--warmup-epochs must be in [0, epochs), got {self.warmup_epochs}")
        if self.stop_after_epoch is not None and self.stop_after_epoch < 1:
            fail(f"--stop-after-epoch must be >= 1, got {self.stop_after_epoch}")
        if self.val_size < 0 or self.workers < 0:
            fail("--val-size and --workers must be >= 0")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
