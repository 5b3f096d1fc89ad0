"""Tiny datasets in every on-disk format ``load_dataset`` reads, for tests and smoke runs.

Each class gets its own base colour (plus noise), so a test can check that the
labels still match the pixels after loading, splitting and shuffling.
"""

from __future__ import annotations

import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from n2uq_hw.data.sources import CIFAR10_CLASSES, CIFAR_META, CIFAR_TEST_BATCH, CIFAR_TRAIN_BATCHES

CLASSES = ("cat", "dog", "frog")


def class_colour(label: int) -> np.ndarray:
    """The base RGB colour of class ``label`` (distinct for the first 10 labels)."""
    return np.array([(label * 97) % 256, (label * 53 + 40) % 256, (255 - label * 71) % 256])


def random_image(label: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8: the class colour plus +-20 noise."""
    noise = rng.integers(-20, 21, size=(size[1], size[0], 3))
    return np.clip(class_colour(label) + noise, 0, 255).astype(np.uint8)


def write_image_folder(
    root: str | Path,
    *,
    classes: Sequence[str] = CLASSES,
    per_class: int = 8,
    size: int | tuple[int, int] = 32,
    splits: Sequence[str] = ("train",),
    fmt: str = "jpg",
    seed: int = 0,
) -> Path:
    """Write ``root/<split>/<class>/<i>.<fmt>``; ``size`` is ``(width, height)`` or one int."""
    root = Path(root)
    wh = (size, size) if isinstance(size, int) else tuple(size)
    rng = np.random.default_rng(seed)
    for split in splits:
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(random_image(label, wh, rng)).save(folder / f"{i:04d}.{fmt}")
    return root


def write_tar(src: str | Path, out: str | Path, *, prefix: str = "") -> Path:
    """Archive the contents of ``src`` into ``out`` (compression from the suffix)."""
    src, out = Path(src), Path(out)
    mode = "w:gz" if out.name.endswith((".tgz", ".gz")) else "w"
    with tarfile.open(out, mode) as tar:
        for child in sorted(src.iterdir()):
            tar.add(child, arcname=f"{prefix}{child.name}")
    return out


def write_cifar_batches(
    root: str | Path, *, per_batch: int = 12, seed: int = 0, skip: Sequence[str] = ()
) -> Path:
    """Write fake ``cifar-10-batches-py`` pickles (real format) in ``root``; return the folder."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH):
        if name in skip:
            continue
        labels = [int(x) for x in rng.integers(0, 10, per_batch)]
        data = np.stack(
            [random_image(y, (32, 32), rng).transpose(2, 0, 1).reshape(-1) for y in labels]
        )
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / CIFAR_META).write_bytes(pickle.dumps(meta))
    return folder
