"""``python -m n2uq_hw.train --demo``: FP teacher, then N2UQ W2A2 student, on generated data."""

from __future__ import annotations

import shutil
from pathlib import Path

from n2uq_hw.errors import fail
from n2uq_hw.synthetic import write_synthetic_imagefolder
from n2uq_hw.train.config import TrainConfig
from n2uq_hw.train.runner import train

MARKER = ".n2uq-demo"


def run_demo(out: Path, *, device: str = "auto", progress: bool = True) -> int:
    """Train ``smallcnn_fp`` then ``smallcnn_w2a2`` (init + KD from it); about a minute on CPU."""
    if out.exists():
        if not (out / MARKER).exists():
            fail(f"{out} exists and is not a demo folder; pass another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by python -m n2uq_hw.train --demo\n")
    data = write_synthetic_imagefolder(out / "data", classes=10, per_class=120, val_per_class=30)
    common = {"data": str(data), "batch_size": 64, "val_size": 0, "device": device,
              "progress": progress, "workers": 0}
    train(TrainConfig(model="smallcnn_fp", out=str(out / "fp"), epochs=3, optimizer="adam",
                      lr=3e-3, **common))
    train(TrainConfig(model="smallcnn_w2a2", out=str(out / "w2a2"), epochs=4,
                      init=str(out / "fp" / "last.pt"), teacher=str(out / "fp" / "last.pt"),
                      lr=2e-3, **common))
    return 0
