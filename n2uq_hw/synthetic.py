"""A small learnable image dataset written as an ImageFolder, for demos and tests.

Each class has a fixed random low-frequency template; a sample is its template,
shifted by a few pixels, with noise. No download, deterministic from the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_synthetic_imagefolder(
    root: str | Path,
    *,
    classes: int = 10,
    per_class: int = 100,
    val_per_class: int = 0,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Write ``root/train/<class>/*.png`` (and ``root/val`` when asked); return ``root``."""
    if classes < 2 or per_class < 1 or size < 8:
        raise ValueError("need classes >= 2, per_class >= 1 and size >= 8")
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(classes, 4, 4, 3))
    templates = [
        np.asarray(Image.fromarray(c.astype(np.uint8)).resize((size, size), Image.BILINEAR),
                   dtype=np.float32)
        for c in coarse
    ]
    root = Path(root)
    for split, count in (("train", per_class), ("val", val_per_class)):
        if count == 0:
            continue
        for c, template in enumerate(templates):
            folder = root / split / f"class{c:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                dy, dx = rng.integers(-3, 4, size=2)
                img = np.roll(template, (int(dy), int(dx)), axis=(0, 1))
                img = img + rng.normal(0, 25, size=img.shape)
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:05d}.png")
    return root
