"""Reading ImageFolder trees, tar archives and CIFAR-10 python batches (n2uq_hw.data.sources)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from n2uq_hw.data import sources
from n2uq_hw.data.sources import ArrayImages, ImageList, read_source
from n2uq_hw.data.testdata import write_cifar_batches, write_image_folder, write_tar
from n2uq_hw.errors import N2UQError

UNSORTED = ("zebra", "ant", "moth")


def _error(path, match: str) -> str:
    with pytest.raises(N2UQError, match=match) as info:
        read_source(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_folder_classes_sorted_and_samples_ordered(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "ds", classes=UNSORTED, per_class=4)
    raw = read_source(root)
    assert raw.classes == ["ant", "moth", "zebra"]
    assert isinstance(raw.train, ImageList)
    assert raw.train.labels == [0] * 4 + [1] * 4 + [2] * 4
    assert raw.train.names[:4] == [str(root / "train" / "ant" / f"{i:04d}.jpg") for i in range(4)]
    assert raw.val is None and raw.val_source == ""


def test_folder_with_val_ignores_non_images(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path, per_class=3, splits=("train", "val"), fmt="png")
    (root / "train" / "cat" / "notes.txt").write_text("x")
    (root / "train" / "cat" / ".hidden.png").write_bytes(b"junk")
    raw = read_source(root)
    assert len(raw.train.labels) == 9 and len(raw.val.labels) == 9
    assert raw.val_source == "val/ folder"


@pytest.mark.parametrize(
    ("suffix", "prefix"), [(".tgz", ""), (".tar.gz", "./"), (".tar", "cifar10/"), (".tgz", "a/b/")]
)
def test_archive_matches_folder(tmp_path: Path, suffix: str, prefix: str) -> None:
    root = write_image_folder(
        tmp_path / "ds", classes=UNSORTED, per_class=3, splits=("train", "val")
    )
    archive = write_tar(root, tmp_path / f"ds{suffix}", prefix=prefix)
    folder, packed = read_source(root), read_source(archive)
    assert packed.classes == folder.classes
    assert packed.train.labels == folder.train.labels
    assert packed.train.payloads == [Path(p).read_bytes() for p in folder.train.payloads]
    assert packed.val_source == "val/ folder"
    assert packed.train.names[0] == f"{archive}:{prefix.lstrip('./')}train/ant/0000.jpg"


def test_archive_ignores_macos_junk(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "ds", per_class=2)
    archive = tmp_path / "ds.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "train", arcname="train")
        info = tarfile.TarInfo("__MACOSX/train/cat/._0000.jpg")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"junk"))
    assert len(read_source(archive).train.labels) == 6


def test_cifar_batches_dir_and_archive(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path / "c", per_batch=6)
    for path in (folder, folder.parent, write_tar(folder.parent, tmp_path / "cifar.tar.gz")):
        raw = read_source(path)
        assert raw.classes[:3] == ["airplane", "automobile", "bird"] and len(raw.classes) == 10
        assert isinstance(raw.train, ArrayImages) and isinstance(raw.val, ArrayImages)
        assert raw.train.images.shape == (30, 3, 32, 32) and raw.train.images.dtype == np.uint8
        assert raw.train.labels.shape == (30,) and raw.val.images.shape == (6, 3, 32, 32)
        assert raw.val_source == "CIFAR-10 test_batch"


def test_missing_path_and_unknown_file(tmp_path: Path) -> None:
    _error(tmp_path / "nope", r"does not exist: .*nope")
    (tmp_path / "data.zip").write_bytes(b"PK")
    _error(tmp_path / "data.zip", r"not a dataset directory or .*archive: .*data\.zip")


def test_folder_layout_errors(tmp_path: Path) -> None:
    _error(tmp_path, r"no train/ folder found in .*")
    (tmp_path / "train").mkdir()
    _error(tmp_path, r"no class folders in .*train")
    (tmp_path / "train" / "cat").mkdir()
    _error(tmp_path, r"no images .* in class folder .*train/cat")


def test_val_classes_must_match(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path, per_class=1)
    write_image_folder(tmp_path, classes=("cat", "dog", "emu"), per_class=1, splits=("val",))
    message = _error(root, r"val classes in .*val differ from the train classes")
    assert "missing frog, extra emu" in message


def test_corrupt_archives(tmp_path: Path) -> None:
    (tmp_path / "bad.tgz").write_bytes(b"this is not gzip" * 10)
    _error(tmp_path / "bad.tgz", r"corrupt or unreadable archive .*bad\.tgz")
    root = write_image_folder(tmp_path / "ds", per_class=8)
    data = write_tar(root, tmp_path / "ok.tgz").read_bytes()
    (tmp_path / "cut.tgz").write_bytes(data[: len(data) // 2])
    _error(tmp_path / "cut.tgz", r"corrupt or unreadable archive .*cut\.tgz")


def test_archive_without_train(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "ds", per_class=1, splits=("val",))
    _error(write_tar(root, tmp_path / "v.tgz"), r"no train/ folder found in archive .*v\.tgz")


def test_archive_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = write_tar(write_image_folder(tmp_path / "ds", per_class=1), tmp_path / "a.tar")
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 1000)
    _error(archive, r"archive .*a\.tar is .* GB.*extract it")


def test_cifar_missing_or_bad_batch(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path / "c", per_batch=2, skip=("data_batch_3",))
    _error(folder, r"CIFAR-10 python batches in .* are missing data_batch_3")
    _error(write_tar(folder.parent, tmp_path / "c.tgz"), r"c\.tgz are missing data_batch_3")
    (folder / "data_batch_3").write_bytes(b"garbage")
    _error(folder, r"unreadable CIFAR-10 batch .*data_batch_3")


def test_cifar_pickle_refuses_arbitrary_objects(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path / "c", per_batch=2)
    (folder / "test_batch").write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")
    _error(folder, r"unreadable CIFAR-10 batch .*test_batch: unexpected object os.system")
