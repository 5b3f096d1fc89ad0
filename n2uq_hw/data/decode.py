"""Image decoding: PIL open/convert with one-line errors, and parallel bulk decoding.

Bulk decoding of small (CIFAR-sized) images is dominated by per-image Python
overhead, so it runs in a process pool (threads do not help: the GIL is the
bottleneck, not the JPEG decoder).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import sys
from collections.abc import Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from n2uq_hw.errors import N2UQError, fail

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
PROGRESS_THRESHOLD = 2000  # show a progress bar above this many images
_CHUNK = 1000  # images per pool task

Payload = bytes | str  # encoded image bytes (from an archive) or a file path


def is_image_name(name: str) -> bool:
    """True for ``*.jpg``/``*.jpeg``/``*.png`` (any case) that are not hidden files."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def _open(payload: Payload) -> Image.Image:
    return Image.open(io.BytesIO(payload) if isinstance(payload, bytes) else payload)


def open_rgb(payload: Payload, name: str) -> Image.Image:
    """Decode one image to RGB (grayscale, palette, CMYK, RGBA are converted).

    Raises N2UQError naming the file when it cannot be decoded.
    """
    try:
        img = _open(payload)
        img.load()
        return img if img.mode == "RGB" else img.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, ...
        fail(f"corrupt image {name}: {_describe(exc, name)}")


def peek_size(payload: Payload, name: str) -> tuple[int, int]:
    """Return ``(width, height)`` from the image header without decoding pixels."""
    try:
        with _open(payload) as img:
            return img.size
    except Exception as exc:  # noqa: BLE001 - as above
        fail(f"corrupt image {name}: {_describe(exc, name)}")


def _describe(exc: BaseException, name: str) -> str:
    """First line of a PIL error, without the file name or ``<_io.BytesIO object at 0x..>``."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", text.replace(f"'{name}'", ""))
    return text.strip() or type(exc).__name__


def _decode_chunk(
    args: tuple[Sequence[Payload], Sequence[str], tuple[int, int]],
) -> tuple[np.ndarray, str]:
    """Decode a chunk into (n, H, W, 3) uint8; returns ``(array, error_message)``.

    Images whose size differs from ``(H, W)`` are resized to it (bilinear). Errors
    are returned, not raised, so the parent reports them as one clean line.
    """
    payloads, names, (height, width) = args
    out = np.empty((len(payloads), height, width, 3), dtype=np.uint8)
    for i, (payload, name) in enumerate(zip(payloads, names)):
        try:
            img = open_rgb(payload, name)
        except N2UQError as exc:
            return out, str(exc)
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img)
    return out, ""


def _pool_size() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def decode_all(
    payloads: Sequence[Payload], names: Sequence[str], size: tuple[int, int], *, desc: str
) -> np.ndarray:
    """Decode every image into one ``(N, H, W, 3)`` uint8 array of ``size = (H, W)``.

    Uses a process pool and a stderr progress bar for more than
    ``PROGRESS_THRESHOLD`` images; raises N2UQError naming the first corrupt file.
    """
    n = len(payloads)
    tasks = [(payloads[i : i + _CHUNK], names[i : i + _CHUNK], size) for i in range(0, n, _CHUNK)]
    big = n > PROGRESS_THRESHOLD
    procs = min(_pool_size(), len(tasks), 16) if big else 1
    out = np.empty((n, size[0], size[1], 3), dtype=np.uint8)
    with tqdm(total=n, desc=desc, unit="img", disable=not big, file=sys.stderr) as bar:
        if procs > 1:
            # forkserver, not fork: forking a process that runs threads (torch's, tqdm's, a
            # test runner's) can leave a worker holding a lock, and the pool's teardown
            # then waited forever (seen once in CI). Close and join after the last result
            # instead of terminate(), the context manager's exit.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods
                                              else "spawn")
            pool = ctx.Pool(procs)
            try:
                _collect(pool.imap(_decode_chunk, tasks), out, bar)
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
        else:
            _collect(map(_decode_chunk, tasks), out, bar)
    return out


def _collect(results, out: np.ndarray, bar: tqdm) -> None:
    pos = 0
    for chunk, error in results:
        if error:
            fail(error)
        out[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
        bar.update(len(chunk))
