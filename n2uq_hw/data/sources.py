"""Reading datasets from disk: ImageFolder trees, tar archives and CIFAR-10 batches.

This layer only finds images and labels; it does not decode pixels (see
``decode.py``) or decide on splits and augmentation (see ``dataset.py``).
Everything it returns is in a deterministic order: classes sorted by name,
samples sorted by file / member name within each class.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from n2uq_hw.data.decode import Payload, is_image_name
from n2uq_hw.errors import fail

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_ARCHIVE_BYTES = 2 * 1024**3  # archives are read into memory; larger ones must be extracted
_ARCHIVE_PROGRESS_BYTES = 32 * 1024**2
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_LAYOUT_HINT = (
    "expected train/<class>/*.jpg|png, optionally val/<class>/..., or CIFAR-10 python batches"
)


@dataclass
class ImageList:
    """Encoded images: payloads (bytes from an archive, or file paths), names, labels."""

    payloads: list[Payload]
    names: list[str]  # for error messages: the file path, or "archive:member"
    labels: list[int]


@dataclass
class ArrayImages:
    """Already-decoded images: ``images`` (N, 3, H, W) uint8, ``labels`` (N,) int64."""

    images: np.ndarray
    labels: np.ndarray


@dataclass
class RawDataset:
    """What a source holds: class names, train images and (maybe) a val split."""

    classes: list[str]
    train: ImageList | ArrayImages
    val: ImageList | ArrayImages | None
    val_source: str  # human-readable origin of ``val``; "" when there is none


def read_source(path: str | Path) -> RawDataset:
    """Read an ImageFolder directory, a tar archive of one, or CIFAR-10 python batches."""
    path = Path(path).expanduser()
    if not path.exists():
        fail(f"dataset path does not exist: {path}")
    if path.is_dir():
        try:
            if any((path / name).exists() for name in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)):
                return _read_cifar_dir(path)
            if (path / CIFAR_DIR).is_dir() and not (path / "train").is_dir():
                return _read_cifar_dir(path / CIFAR_DIR)
            return _read_folder(path)
        except OSError as exc:  # e.g. a folder or file without read permission
            fail(f"cannot read dataset {path}: {exc}")
    if path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return _read_archive(path)
    fail(f"not a dataset directory or .tar/.tgz/.tar.gz archive: {path}")


# --- ImageFolder directory -------------------------------------------------------------


def _read_folder(root: Path) -> RawDataset:
    if not (root / "train").is_dir():
        fail(f"no train/ folder found in {root} ({_LAYOUT_HINT})")
    classes, train = _image_list(str(root / "train"), _scan_dir(root / "train"), None)
    if not (root / "val").is_dir():
        return RawDataset(classes, train, None, "")
    _, val = _image_list(str(root / "val"), _scan_dir(root / "val"), classes)
    return RawDataset(classes, train, val, "val/ folder")


def _scan_dir(split_dir: Path) -> dict[str, list[tuple[str, Payload]]]:
    """Map each (non-hidden) class folder to its image files, searched recursively."""
    groups: dict[str, list[tuple[str, Payload]]] = {}
    for entry in os.scandir(split_dir):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        files = groups.setdefault(entry.name, [])
        for folder, dirs, names in os.walk(entry.path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                if is_image_name(name):
                    file = os.path.join(folder, name)
                    files.append((file, file))
    return groups


def _image_list(
    where: str, groups: dict[str, list[tuple[str, Payload]]], classes: list[str] | None
) -> tuple[list[str], ImageList]:
    """Turn ``class -> [(name, payload)]`` into a label-ordered, name-sorted ImageList.

    With ``classes`` given (the train classes) the groups must have exactly those.
    """
    found = sorted(groups)
    if classes is None:
        if not found:
            fail(f"no class folders in {where} ({_LAYOUT_HINT})")
        classes = found
    elif found != classes:
        missing = sorted(set(classes) - set(found))
        extra = sorted(set(found) - set(classes))
        fail(
            f"val classes in {where} differ from the train classes: "
            f"missing {_short(missing)}, extra {_short(extra)}"
        )
    out = ImageList([], [], [])
    for label, name in enumerate(classes):
        items = sorted(groups[name], key=lambda item: item[0])
        if not items:
            fail(f"no images (.jpg/.jpeg/.png) in class folder {where}/{name}")
        out.names.extend(item[0] for item in items)
        out.payloads.extend(item[1] for item in items)
        out.labels.extend([label] * len(items))
    return classes, out


def _short(names: list[str], limit: int = 5) -> str:
    if not names:
        return "none"
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# --- tar archive ----------------------------------------------------------------------


def _clean_parts(name: str) -> tuple[str, ...] | None:
    """Path components of a member name without ``.``; None for hidden/macOS junk."""
    parts = tuple(p for p in PurePosixPath(name).parts if p not in (".", "/"))
    if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None
    return parts


def _read_archive(path: Path) -> RawDataset:
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        fail(
            f"archive {path} is {size / 1024**3:.1f} GB; archives over "
            f"{MAX_ARCHIVE_BYTES // 1024**3} GB are not read into memory: extract it "
            f"(tar xf {path.name}) and pass the extracted folder"
        )
    files: dict[tuple[str, ...], bytes] = {}
    dirs: set[tuple[str, ...]] = set()
    try:
        with (
            open(path, "rb") as raw,
            tarfile.open(fileobj=raw, mode="r|*") as tar,
            tqdm(
                total=size,
                desc=f"reading {path.name}",
                unit="B",
                unit_scale=True,
                disable=size < _ARCHIVE_PROGRESS_BYTES,
                file=sys.stderr,
            ) as bar,
        ):
            for member in tar:
                parts = _clean_parts(member.name)
                if parts is None:
                    continue
                if member.isdir():
                    dirs.add(parts)
                elif member.isfile() and _wanted(parts):
                    files[parts] = tar.extractfile(member).read()
                bar.update(raw.tell() - bar.n)
    except Exception as exc:  # noqa: BLE001 - tarfile/gzip/bz2/lzma raise many types
        fail(f"corrupt or unreadable archive {path}: {str(exc) or type(exc).__name__}")

    prefix = _find_prefix(parts for parts in files if is_image_name(parts[-1]))
    if prefix is None:
        batches = {parts[-1]: data for parts, data in files.items() if not is_image_name(parts[-1])}
        if batches:
            return _parse_cifar(batches, f"{path}:")
        fail(f"no train/ folder found in archive {path} ({_LAYOUT_HINT})")
    top = "/".join((*prefix, ""))
    groups = {
        split: _archive_groups(path, files, dirs, (*prefix, split)) for split in ("train", "val")
    }
    classes, train = _image_list(f"{path}:{top}train", groups["train"], None)
    has_val = any(d[: len(prefix) + 1] == (*prefix, "val") for d in dirs) or groups["val"]
    if not has_val:
        return RawDataset(classes, train, None, "")
    _, val = _image_list(f"{path}:{top}val", groups["val"], classes)
    return RawDataset(classes, train, val, "val/ folder")


def _wanted(parts: tuple[str, ...]) -> bool:
    """Images under some ``train/`` or ``val/`` folder, and CIFAR-10 batch files."""
    if is_image_name(parts[-1]):
        return "train" in parts[:-2] or "val" in parts[:-2]
    return parts[-1] in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META)


def _find_prefix(image_parts) -> tuple[str, ...] | None:
    """The shortest leading folder path that is followed by ``train/<class>/...``."""
    prefixes = set()
    for parts in image_parts:
        for i in range(len(parts) - 2):
            if parts[i] == "train":
                prefixes.add(parts[:i])
                break
    return min(prefixes, key=lambda p: (len(p), p)) if prefixes else None


def _archive_groups(
    path: Path,
    files: dict[tuple[str, ...], bytes],
    dirs: set[tuple[str, ...]],
    base: tuple[str, ...],
) -> dict[str, list[tuple[str, Payload]]]:
    n = len(base)
    groups: dict[str, list[tuple[str, Payload]]] = {}
    for parts in dirs:
        if len(parts) > n and parts[:n] == base:
            groups.setdefault(parts[n], [])  # a class folder, maybe empty
    for parts, data in files.items():
        if len(parts) > n + 1 and parts[:n] == base and is_image_name(parts[-1]):
            groups.setdefault(parts[n], []).append((f"{path}:{'/'.join(parts)}", data))
    return groups


# --- CIFAR-10 python batches ----------------------------------------------------------


def _read_cifar_dir(folder: Path) -> RawDataset:
    blobs = {}
    for name in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META):
        if (folder / name).is_file():
            blobs[name] = (folder / name).read_bytes()
    return _parse_cifar(blobs, f"{folder}/")


def _parse_cifar(blobs: dict[str, bytes], where: str) -> RawDataset:
    """Build a dataset from the pickled batches; ``where`` prefixes names in errors."""
    missing = [n for n in (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH) if n not in blobs]
    if missing:
        fail(f"CIFAR-10 python batches in {where.rstrip(':/')} are missing {', '.join(missing)}")
    classes = list(CIFAR10_CLASSES)
    if CIFAR_META in blobs:
        meta = _unpickle(blobs[CIFAR_META], where + CIFAR_META)
        names = _get(meta, "label_names", where + CIFAR_META)
        classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    parts = [_load_batch(blobs[n], where + n, len(classes)) for n in CIFAR_TRAIN_BATCHES]
    train = ArrayImages(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    )
    val = ArrayImages(*_load_batch(blobs[CIFAR_TEST_BATCH], where + CIFAR_TEST_BATCH, len(classes)))
    return RawDataset(classes, train, val, "CIFAR-10 test_batch")


def _load_batch(blob: bytes, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(blob, where)
    data = np.asarray(_get(batch, "data", where))
    labels = np.asarray(_get(batch, "labels", where), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        fail(
            f"malformed CIFAR-10 batch {where}: data is {data.dtype} {data.shape}, "
            "expected uint8 (N, 3072)"
        )
    if labels.shape != (len(data),) or (
        labels.size and not 0 <= labels.min() <= labels.max() < num_classes
    ):
        fail(f"malformed CIFAR-10 batch {where}: labels do not match the data")
    return data.reshape(-1, 3, 32, 32), labels


def _get(obj: object, key: str, where: str):
    if isinstance(obj, dict):
        for k in (key.encode(), key):
            if k in obj:
                return obj[k]
    fail(f"malformed CIFAR-10 batch {where}: no '{key}' entry")


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that only constructs numpy arrays (plus plain Python containers)."""

    _ALLOWED = frozenset({"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"})

    def find_class(self, module: str, name: str):
        if (module.split(".")[0] == "numpy" and name in self._ALLOWED) or (
            module == "_codecs" and name == "encode"
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def _unpickle(blob: bytes, where: str) -> object:
    try:
        return _SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - pickle raises many types on bad input
        fail(f"unreadable CIFAR-10 batch {where}: {str(exc) or type(exc).__name__}")
