"""make_loader: batching, sharding, determinism and normalisation (n2uq_hw.data.loaders)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from n2uq_hw.data import DataSplits, load_dataset, make_loader
from n2uq_hw.data.loaders import epoch_batches
from n2uq_hw.data.testdata import write_image_folder
from n2uq_hw.errors import N2UQError


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> DataSplits:
    root = write_image_folder(tmp_path_factory.mktemp("c"), per_class=10, fmt="png")
    return load_dataset(root, image_size=32, val_size=7)


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> DataSplits:
    root = write_image_folder(tmp_path_factory.mktemp("i"), per_class=4, size=(96, 72))
    return load_dataset(root, image_size=40, val_size=5)


def _epoch(loader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return list(loader)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x, y) and torch.equal(u, v) for (x, u), (y, v) in zip(a, b)
    )


@pytest.mark.parametrize(("n", "world", "bs"), [(23, 1, 4), (23, 3, 2), (100, 4, 8), (10, 3, 3)])
def test_train_shards_disjoint_equal_and_cover(n: int, world: int, bs: int) -> None:
    shards = [
        torch.cat(
            epoch_batches(n, batch_size=bs, train=True, seed=5, epoch=2, rank=r, world_size=world)
        )
        for r in range(world)
    ]
    per_rank = (n // world) // bs * bs
    assert all(len(s) == per_rank for s in shards)
    everything = torch.cat(shards)
    assert len(set(everything.tolist())) == len(everything)  # disjoint
    assert n - len(everything) < world * bs + world  # only the tail is dropped
    again = epoch_batches(n, batch_size=bs, train=True, seed=5, epoch=2, rank=0, world_size=world)
    assert torch.equal(torch.cat(again), shards[0])


@pytest.mark.parametrize(("n", "world", "bs"), [(23, 1, 4), (23, 3, 2), (5, 4, 8)])
def test_val_shards_cover_everything_in_order(n: int, world: int, bs: int) -> None:
    shards = [
        epoch_batches(n, batch_size=bs, train=False, seed=0, epoch=0, rank=r, world_size=world)
        for r in range(world)
    ]
    flat = [torch.cat(s).tolist() if s else [] for s in shards]
    assert sorted(i for f in flat for i in f) == list(range(n))
    assert all(f == sorted(f) for f in flat)


def test_cifar_loader_shapes_dtypes_and_len(cifar: DataSplits) -> None:
    train = make_loader(cifar.train, batch_size=4, train=True, device="cpu")
    val = make_loader(cifar.val, batch_size=4, train=False, device=torch.device("cpu"))
    assert len(cifar.train) == 23 and len(train) == 5 and len(val) == 2
    batches = _epoch(train, 0)
    assert len(batches) == 5
    for images, labels in batches:
        assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
        assert labels.shape == (4,) and labels.dtype == torch.int64
    assert [len(labels) for _, labels in val] == [4, 3]


def test_cifar_val_is_plain_normalisation(cifar: DataSplits) -> None:
    images, labels = next(iter(make_loader(cifar.val, batch_size=100, train=False)))
    mean = torch.tensor(cifar.mean).view(1, 3, 1, 1)
    std = torch.tensor(cifar.std).view(1, 3, 1, 1)
    expected = (cifar.val.images.float() / 255 - mean) / std
    assert torch.allclose(images, expected, atol=1e-6)
    assert torch.equal(labels, cifar.val.labels)


def test_cifar_train_augments_and_keeps_labels(cifar: DataSplits) -> None:
    images, labels = _epoch(make_loader(cifar.train, batch_size=23, train=True, seed=1), 0)[0]
    _, plain_labels = next(iter(make_loader(cifar.train, batch_size=23, train=False)))
    assert sorted(labels.tolist()) == sorted(plain_labels.tolist())
    assert not torch.equal(labels, plain_labels)  # shuffled
    zero = (0 - torch.tensor(cifar.mean)) / torch.tensor(cifar.std)
    padding = (images - zero.view(1, 3, 1, 1)).abs().amax(dim=1) < 1e-5  # (B, H, W)
    assert padding.any(dim=(1, 2)).sum() > 5  # most crops show some of the zero padding
    assert not padding.all(dim=(1, 2)).any()


@pytest.mark.parametrize("style", ["cifar", "imagenet"])
def test_train_is_a_function_of_seed_and_epoch(style: str, request) -> None:
    splits: DataSplits = request.getfixturevalue(style)

    def make(seed: int):
        return make_loader(splits.train, batch_size=3, train=True, seed=seed)

    first = make(0)
    epochs = [_epoch(first, e) for e in range(3)]
    resumed = make(0)
    assert _same(_epoch(resumed, 2), epochs[2])  # a resumed run sees the same batches
    assert _same(_epoch(resumed, 0), epochs[0])
    assert not _same(epochs[0], epochs[1])
    assert not _same(_epoch(make(1), 0), epochs[0])


@pytest.mark.parametrize("style", ["cifar", "imagenet"])
def test_loaders_leave_global_rng_alone(style: str, request) -> None:
    splits: DataSplits = request.getfixturevalue(style)
    state = torch.get_rng_state()
    for train in (True, False):
        list(make_loader(splits.train, batch_size=2, train=train, seed=3))
    assert torch.equal(torch.get_rng_state(), state)


def test_imagenet_loader_shapes_and_val(imagenet: DataSplits) -> None:
    val = make_loader(imagenet.val, batch_size=2, train=False)
    batches = list(val)
    assert len(val) == len(batches) == 3 and [len(lb) for _, lb in batches] == [2, 2, 1]
    images, labels = batches[0]
    assert images.shape == (2, 3, 40, 40) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert torch.equal(torch.cat([lb for _, lb in batches]), imagenet.val.labels)
    assert _same(list(val), batches)
    assert abs(float(images.mean())) < 3


def test_imagenet_workers_give_identical_batches(imagenet: DataSplits) -> None:
    serial = make_loader(imagenet.train, batch_size=2, train=True, seed=4, workers=0)
    parallel = make_loader(imagenet.train, batch_size=2, train=True, seed=4, workers=2)
    assert _same(_epoch(serial, 1), _epoch(parallel, 1))
    assert _same(_epoch(serial, 2), _epoch(parallel, 2))  # persistent workers see the new epoch


@pytest.mark.parametrize("workers", [0, 1])
def test_imagenet_corrupt_image_is_one_line_error(tmp_path: Path, workers: int) -> None:
    root = write_image_folder(tmp_path, per_class=2, size=96)
    splits = load_dataset(root, image_size=32, val_size=1)
    (root / "train" / "dog" / "0001.jpg").write_bytes(b"\xff\xd8\xff broken")  # after indexing
    split = splits.train if any("dog/0001" in n for n in splits.train.names) else splits.val
    loader = make_loader(split, batch_size=1, train=split is splits.train, workers=workers)
    with pytest.raises(N2UQError, match=r"^corrupt image .*train/dog/0001\.jpg: [^\n]*$"):
        list(loader)


def test_rank_sharding_through_loader(cifar: DataSplits) -> None:
    seen = []
    for rank in range(2):
        loader = make_loader(cifar.val, batch_size=2, train=False, rank=rank, world_size=2)
        seen += [img for images, _ in loader for img in images]
    assert len(seen) == len(cifar.val)
    loaders = [
        make_loader(cifar.train, batch_size=3, train=True, rank=r, world_size=2) for r in range(2)
    ]
    assert len(loaders[0]) == len(loaders[1]) == 3


def test_make_loader_errors(cifar: DataSplits) -> None:
    with pytest.raises(N2UQError, match=r"batch_size 12 is larger than the 11 training samples"):
        make_loader(cifar.train, batch_size=12, train=True, world_size=2)
    make_loader(cifar.val, batch_size=100, train=False)  # fine for val: one partial batch
    with pytest.raises(N2UQError, match="invalid rank 2 for world_size 2"):
        make_loader(cifar.train, batch_size=1, train=True, rank=2, world_size=2)
    with pytest.raises(N2UQError, match="batch_size must be positive"):
        make_loader(cifar.train, batch_size=0, train=True)
