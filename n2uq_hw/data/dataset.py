"""``load_dataset``: read a source, pick the style, decode or index images, split off val.

Two styles, chosen from the native image size:

* ``"cifar"`` (images <= 64 px): every image is decoded once into an in-memory
  uint8 tensor (N, 3, S, S), resized once to ``image_size`` if needed; loaders
  augment whole batches on the target device.
* ``"imagenet"`` (larger images): encoded bytes or file paths are kept and each
  sample is decoded and augmented with PIL in DataLoader workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from n2uq_hw.data.decode import Payload, decode_all, open_rgb, peek_size
from n2uq_hw.data.sources import ArrayImages, ImageList, RawDataset, read_source
from n2uq_hw.data.transforms import (
    CIFAR_MEAN,
    CIFAR_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    resize_uint8,
    to_chw_uint8,
    val_transform,
)
from n2uq_hw.errors import fail

Style = Literal["cifar", "imagenet"]
SMALL_IMAGE_MAX = 64  # images up to this size (both sides) use the cifar style
_SIZE_SAMPLES = 32  # images whose headers are read to find the native size


def derive_seed(*parts: object) -> int:
    """A 63-bit seed that is a pure function of ``parts`` (stable across runs/platforms)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True, eq=False)
class Split:
    """One split: labels plus either decoded images (cifar) or encoded ones (imagenet).

    ``len(split)`` is the number of samples.
    """

    labels: torch.Tensor  # (N,) int64
    style: Style
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    images: torch.Tensor | None = None  # cifar: (N, 3, image_size, image_size) uint8, CPU
    payloads: Sequence[Payload] = field(default=(), repr=False)  # imagenet: bytes or paths
    names: Sequence[str] = field(default=(), repr=False)  # imagenet: for error messages

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> Split:
        """The samples at ``indices`` (1-D int64), in that order."""
        idx = indices.tolist()
        return Split(
            labels=self.labels[indices],
            style=self.style,
            image_size=self.image_size,
            mean=self.mean,
            std=self.std,
            images=None if self.images is None else self.images[indices],
            payloads=[self.payloads[i] for i in idx] if self.payloads else (),
            names=[self.names[i] for i in idx] if self.names else (),
        )


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train and val splits plus what a trainer / the hardware lowering needs to know."""

    train: Split
    val: Split
    classes: list[str]
    num_classes: int
    val_source: str  # e.g. "val/ folder", "CIFAR-10 test_batch", "held out 5000 of ..."
    mean: tuple[float, float, float]  # normalisation applied on device: (x/255 - mean) / std
    std: tuple[float, float, float]
    style: Style
    image_size: int


def load_dataset(
    path: str | Path, *, image_size: int, val_size: int = 5000, split_seed: int = 0
) -> DataSplits:
    """Load a dataset from an ImageFolder dir, a tar archive of one, or CIFAR-10 batches.

    Without a val split, ``val_size`` train images are held out; which ones depends
    only on ``split_seed`` (not on the training seed), so it is stable across runs.
    Cifar-style images are resized once here (bilinear) if ``image_size`` differs
    from their native size; imagenet-style ones are cropped/resized per sample.
    """
    if image_size < 1:
        fail(f"image_size must be positive, got {image_size}")
    raw = read_source(path)
    if raw.val is None:  # check before spending time on decoding
        _check_val_size(len(raw.train.labels), val_size, path)
    style = _style_of(raw)
    mean, std = (CIFAR_MEAN, CIFAR_STD) if style == "cifar" else (IMAGENET_MEAN, IMAGENET_STD)
    make = _cifar_split if style == "cifar" else _imagenet_split
    train = make(raw.train, image_size, mean, std, "train")
    if raw.val is not None:
        val, val_source = make(raw.val, image_size, mean, std, "val"), raw.val_source
    else:
        train, val = _hold_out(train, val_size, split_seed, path)
        val_source = (
            f"held out {val_size} of {len(train) + val_size} train images (seed {split_seed})"
        )
    return DataSplits(
        train=train,
        val=val,
        classes=list(raw.classes),
        num_classes=len(raw.classes),
        val_source=val_source,
        mean=mean,
        std=std,
        style=style,
        image_size=image_size,
    )


def _style_of(raw: RawDataset) -> Style:
    if isinstance(raw.train, ArrayImages):
        return "cifar"
    w, h = _native_size(raw.train)
    return "cifar" if max(w, h) <= SMALL_IMAGE_MAX else "imagenet"


def _native_size(images: ImageList) -> tuple[int, int]:
    """Largest (width, height) among a fixed, evenly spaced sample of image headers."""
    n = len(images.payloads)
    picks = sorted({round(i * (n - 1) / max(1, _SIZE_SAMPLES - 1)) for i in range(_SIZE_SAMPLES)})
    sizes = [peek_size(images.payloads[i], images.names[i]) for i in picks if i < n]
    return max(s[0] for s in sizes), max(s[1] for s in sizes)


def _cifar_split(
    source: ImageList | ArrayImages, image_size: int, mean: tuple, std: tuple, what: str
) -> Split:
    """Decode everything to (N, 3, image_size, image_size) uint8 on the CPU."""
    if isinstance(source, ArrayImages):
        images, labels = torch.from_numpy(source.images), torch.from_numpy(source.labels)
    else:
        # Decode at the first image's size (odd-sized images are resized to it), then
        # resize the whole tensor once if the requested size differs.
        w, h = peek_size(source.payloads[0], source.names[0])
        hwc = decode_all(source.payloads, source.names, (h, w), desc=f"decoding {what} images")
        images = torch.from_numpy(np.ascontiguousarray(hwc.transpose(0, 3, 1, 2)))
        labels = torch.tensor(source.labels, dtype=torch.int64)
    images = resize_uint8(images, image_size).contiguous()
    return Split(
        labels=labels.to(torch.int64),
        style="cifar",
        image_size=image_size,
        mean=mean,
        std=std,
        images=images,
    )


def _imagenet_split(
    source: ImageList | ArrayImages, image_size: int, mean: tuple, std: tuple, what: str
) -> Split:
    assert isinstance(source, ImageList)
    return Split(
        labels=torch.tensor(source.labels, dtype=torch.int64),
        style="imagenet",
        image_size=image_size,
        mean=mean,
        std=std,
        payloads=source.payloads,
        names=source.names,
    )


def _check_val_size(n: int, val_size: int, path: str | Path) -> None:
    if not 1 <= val_size <= n // 2:
        fail(
            f"val_size {val_size} is invalid for {path}: it has no val split and {n} train "
            f"images, so val_size must be between 1 and {n // 2} (half the train set)"
        )


def _hold_out(
    train: Split, val_size: int, split_seed: int, path: str | Path
) -> tuple[Split, Split]:
    """Split ``val_size`` samples off ``train`` with a permutation seeded by ``split_seed``."""
    n = len(train)
    _check_val_size(n, val_size, path)
    g = torch.Generator().manual_seed(derive_seed("holdout", split_seed))
    perm = torch.randperm(n, generator=g)
    val_idx, train_idx = perm[:val_size].sort().values, perm[val_size:].sort().values
    return train.subset(train_idx), train.subset(val_idx)


def eval_pixels(split: Split, count: int) -> torch.Tensor:
    """The first ``count`` images of ``split`` as uint8 ``[N, 3, S, S]`` with the evaluation
    transform (decoded on demand for large-image splits): calibration and test inputs."""
    count = min(count, len(split))
    if split.images is not None:
        return split.images[:count]
    return torch.stack([to_chw_uint8(val_transform(open_rgb(split.payloads[i], split.names[i]),
                                                   split.image_size)) for i in range(count)])
