"""``make_loader``: deterministic, rank-sharded batch iterators over a ``Split``.

Order and augmentation are pure functions of (seed, epoch, rank, world_size), drawn
from explicitly seeded ``torch.Generator`` objects on the CPU (so they are also the
same on every device); the global RNG is never touched. A run resumed at epoch k
therefore sees exactly the batches an uninterrupted run would.

* train: one permutation of all samples per (seed, epoch), identical on every rank;
  rank r takes ``perm[r::world_size]`` and drops the tail so all ranks yield the
  same number of full batches (``batch_size`` is per rank).
* val: no shuffling or augmentation; rank r takes ``indices[r::world_size]`` and
  the last partial batch is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from n2uq_hw.data.dataset import Split, derive_seed
from n2uq_hw.data.decode import open_rgb
from n2uq_hw.data.transforms import (
    CROP_PADDING,
    crop_flip,
    normalize,
    to_chw_uint8,
    train_transform,
    val_transform,
)
from n2uq_hw.errors import N2UQError, fail

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_batches(
    n: int, *, batch_size: int, train: bool, seed: int, epoch: int, rank: int, world_size: int
) -> list[torch.Tensor]:
    """The sample indices of each batch this rank sees in ``epoch`` (see module doc)."""
    if train:
        g = torch.Generator().manual_seed(derive_seed("perm", seed, epoch))
        mine = torch.randperm(n, generator=g)[rank::world_size]
        per_rank = n // world_size  # the smallest share, so every rank has as many batches
        return list(mine[: per_rank - per_rank % batch_size].split(batch_size))
    return list(torch.arange(rank, n, world_size).split(batch_size))


@dataclass
class Schedule:
    """Which samples each batch of an epoch holds, for one rank; ``epoch`` is mutable."""

    n: int
    batch_size: int
    train: bool
    seed: int
    rank: int
    world_size: int
    epoch: int = 0

    def batches(self) -> list[torch.Tensor]:
        """Index batches for the current epoch."""
        return epoch_batches(
            self.n,
            batch_size=self.batch_size,
            train=self.train,
            seed=self.seed,
            epoch=self.epoch,
            rank=self.rank,
            world_size=self.world_size,
        )

    def __len__(self) -> int:
        n, bs, ws = self.n, self.batch_size, self.world_size
        if self.train:
            return (n // ws) // bs
        return (len(range(self.rank, n, ws)) + bs - 1) // bs


class _Loader:
    """Shared parts: the schedule, ``set_epoch``, ``len`` and on-device normalisation."""

    def __init__(self, split: Split, schedule: Schedule, device: torch.device) -> None:
        self.split, self.schedule, self.device = split, schedule, device
        self._mean = torch.tensor(split.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(split.std, device=device).view(1, 3, 1, 1)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration produces."""
        return self.schedule.epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order/augmentation the next iteration produces."""
        self.schedule.epoch = epoch

    def __len__(self) -> int:
        return len(self.schedule)

    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self._mean, self._std)


class TensorLoader(_Loader):
    """Cifar style: images live on ``device``; crop+flip whole batches there."""

    def __init__(self, split: Split, schedule: Schedule, device: torch.device) -> None:
        super().__init__(split, schedule, device)
        assert split.images is not None
        self._images = split.images.to(device)
        self._labels = split.labels.to(device)

    def __iter__(self) -> Iterator[Batch]:
        sched, bs = self.schedule, self.schedule.batch_size
        batches = sched.batches()
        if not batches:
            return
        # One host->device copy per epoch for the order and the augmentation draws.
        order = torch.cat(batches).to(self.device)
        if sched.train:
            g = torch.Generator().manual_seed(
                derive_seed("crop-flip", sched.seed, sched.epoch, sched.rank, sched.world_size)
            )
            offsets = torch.randint(2 * CROP_PADDING + 1, (len(order), 2), generator=g)
            flips = torch.rand(len(order), generator=g) < 0.5
            offsets, flips = offsets.to(self.device), flips.to(self.device)
        for start in range(0, len(order), bs):
            idx = order[start : start + bs]
            images = self._images[idx]
            if sched.train:
                part = slice(start, start + bs)
                images = crop_flip(images, offsets[part], flips[part])
            yield self._normalize(images), self._labels[idx]


class _EncodedDataset(Dataset):
    """Decodes and transforms one sample; keys are ``(index, sample_seed)``.

    Errors are returned as a message rather than raised, so the main process can
    report them as one clean line (DataLoader would wrap them in a traceback).
    """

    def __init__(self, split: Split, train: bool) -> None:
        self.split, self.train = split, train

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor | None, int, str]:
        index, sample_seed = key
        size = self.split.image_size
        try:
            img = open_rgb(self.split.payloads[index], self.split.names[index])
        except N2UQError as exc:
            return None, -1, str(exc)
        if self.train:
            img = train_transform(img, size, torch.Generator().manual_seed(sample_seed))
        else:
            img = val_transform(img, size)
        return to_chw_uint8(img), int(self.split.labels[index]), ""


def _collate(samples: list) -> tuple[torch.Tensor, torch.Tensor, str]:
    errors = [err for _, _, err in samples if err]
    if errors:
        return torch.empty(0), torch.empty(0), errors[0]
    images = torch.stack([img for img, _, _ in samples])
    return images, torch.tensor([label for _, label, _ in samples], dtype=torch.int64), ""


class _KeySampler:
    """Batch sampler yielding ``[(index, sample_seed), ...]`` for the schedule's epoch.

    It holds the schedule, not the loader: a loader <-> sampler reference cycle
    would leave worker shutdown to the cyclic GC, which then stalls for seconds.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def __len__(self) -> int:
        return len(self.schedule)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        s = self.schedule
        for idx in s.batches():
            yield [
                (i, derive_seed("sample", s.seed, s.epoch, i) if s.train else 0)
                for i in idx.tolist()
            ]


class EncodedLoader(_Loader):
    """Imagenet style: a torch DataLoader decodes per sample with PIL transforms.

    Each sample's augmentation is seeded from (seed, epoch, sample index), so the
    result does not depend on the number of workers.
    """

    def __init__(
        self, split: Split, schedule: Schedule, device: torch.device, workers: int
    ) -> None:
        super().__init__(split, schedule, device)
        self._loader = DataLoader(
            _EncodedDataset(split, schedule.train),
            batch_sampler=_KeySampler(schedule),
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(0),  # else DataLoader draws from global RNG
        )

    def __iter__(self) -> Iterator[Batch]:
        for images, labels, error in self._loader:
            if error:
                fail(error)
            images = images.to(self.device, non_blocking=True)
            yield self._normalize(images), labels.to(self.device, non_blocking=True)


def make_loader(
    split: Split,
    *,
    batch_size: int,
    train: bool,
    device: torch.device | str = "cpu",
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
) -> TensorLoader | EncodedLoader:
    """Iterate ``(images, labels)``: float32 NCHW normalised, int64, both on ``device``.

    Call ``set_epoch(epoch)`` before each epoch; ``len(loader)`` is batches per epoch
    for this rank. ``workers`` only matters for imagenet-style splits.
    """
    if batch_size < 1:
        fail(f"batch_size must be positive, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        fail(f"invalid rank {rank} for world_size {world_size}")
    if workers < 0:
        fail(f"workers must be >= 0, got {workers}")
    if train and len(split) // world_size < batch_size:
        fail(
            f"batch_size {batch_size} is larger than the {len(split) // world_size} training "
            f"samples per rank ({len(split)} samples, world_size {world_size})"
        )
    schedule = Schedule(len(split), batch_size, train, seed, rank, world_size)
    device = torch.device(device)
    if split.style == "cifar":
        return TensorLoader(split, schedule, device)
    return EncodedLoader(split, schedule, device, workers)
