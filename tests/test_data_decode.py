"""Decoding single images and bulk decoding (n2uq_hw.data.decode)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from n2uq_hw.data import decode
from n2uq_hw.data.decode import decode_all, is_image_name, open_rgb, peek_size
from n2uq_hw.errors import N2UQError


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def test_is_image_name() -> None:
    assert is_image_name("a/b/x.JPEG") and is_image_name("x.png") and is_image_name("y.jpg")
    assert not is_image_name("a/.x.jpg") and not is_image_name("x.txt")


@pytest.mark.parametrize(
    ("mode", "fmt"), [("L", "PNG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("P", "PNG"), ("L", "JPEG")]
)
def test_open_rgb_converts_modes(mode: str, fmt: str) -> None:
    img = open_rgb(_encode(Image.new(mode, (5, 4)), fmt), "x")
    assert img.mode == "RGB" and img.size == (5, 4)


def test_open_rgb_reads_paths(tmp_path) -> None:
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "a.png")
    assert np.asarray(open_rgb(str(tmp_path / "a.png"), "a"))[0, 0].tolist() == [1, 2, 3]
    assert peek_size(str(tmp_path / "a.png"), "a") == (3, 2)


def test_corrupt_image_names_the_file() -> None:
    for call in (open_rgb, peek_size):
        with pytest.raises(N2UQError, match=r"^corrupt image train/cat/1\.jpg: ") as info:
            call(b"not an image", "train/cat/1.jpg")
        assert "BytesIO" not in str(info.value)
    truncated = _encode(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")[:200]
    with pytest.raises(N2UQError, match="corrupt image t.jpg"):
        open_rgb(truncated, "t.jpg")


def _payloads(n: int) -> list[bytes]:
    return [_encode(Image.new("RGB", (8 + i % 2, 8), (i, 2 * i, 3 * i)), "PNG") for i in range(n)]


def test_decode_all_resizes_to_the_given_size() -> None:
    out = decode_all(_payloads(5), [str(i) for i in range(5)], (8, 8), desc="x")
    assert out.shape == (5, 8, 8, 3) and out.dtype == np.uint8
    assert out[4, 3, 3].tolist() == [4, 8, 12]


def test_decode_all_pool_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    payloads, names = _payloads(40), [f"img{i}" for i in range(40)]
    serial = decode_all(payloads, names, (8, 8), desc="x")
    monkeypatch.setattr(decode, "PROGRESS_THRESHOLD", 10)
    monkeypatch.setattr(decode, "_CHUNK", 7)
    monkeypatch.setattr(decode, "_pool_size", lambda: 2)
    assert np.array_equal(decode_all(payloads, names, (8, 8), desc="x"), serial)
    payloads[23] = b"broken"
    with pytest.raises(N2UQError, match=r"^corrupt image img23: "):
        decode_all(payloads, names, (8, 8), desc="x")
