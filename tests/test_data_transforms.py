"""Batched tensor transforms and PIL transforms (n2uq_hw.data.transforms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from n2uq_hw.data.transforms import (
    crop_flip,
    normalize,
    random_resized_crop_box,
    resize_uint8,
    to_chw_uint8,
    train_transform,
    val_transform,
)


def _images(b: int = 6, size: int = 10) -> torch.Tensor:
    return torch.randint(
        1, 256, (b, 3, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.int64
    ).to(torch.uint8)


def test_crop_flip_matches_reference() -> None:
    images = _images()
    g = torch.Generator().manual_seed(1)
    offsets = torch.randint(0, 9, (6, 2), generator=g)
    flips = torch.rand(6, generator=g) < 0.5
    out = crop_flip(images, offsets, flips)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i, ((top, left), flip) in enumerate(zip(offsets.tolist(), flips.tolist())):
        ref = padded[i, :, top : top + 10, left : left + 10]
        assert torch.equal(out[i], ref.flip(2) if flip else ref)


def test_crop_flip_centre_is_identity_and_corner_pads_zeros() -> None:
    images = _images(2)
    centre = torch.full((2, 2), 4)
    assert torch.equal(crop_flip(images, centre, torch.tensor([False, False])), images)
    assert torch.equal(crop_flip(images, centre, torch.tensor([True, True])), images.flip(3))
    corner = crop_flip(images, torch.zeros(2, 2, dtype=torch.int64), torch.tensor([False, False]))
    assert (corner[:, :, :4] == 0).all() and (corner[:, :, :, :4] == 0).all()
    assert torch.equal(corner[:, :, 4:, 4:], images[:, :, :6, :6])


def test_normalize() -> None:
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    mean = torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.25, 1.0]).view(1, 3, 1, 1)
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32
    assert out[0, :, 0].tolist() == [[-1.0, 1.0], [-1.0, 3.0], [0.0, 1.0]]


def test_resize_uint8() -> None:
    images = _images(3, 32)
    assert resize_uint8(images, 32) is images
    flat = torch.full((2, 3, 32, 32), 77, dtype=torch.uint8)
    for size in (24, 40):
        out = resize_uint8(flat, size, chunk=1)
        assert out.shape == (2, 3, size, size) and out.dtype == torch.uint8
        assert (out == 77).all()


def test_random_resized_crop_box_in_bounds_and_seeded() -> None:
    for seed in range(50):
        left, top, w, h = random_resized_crop_box(120, 80, torch.Generator().manual_seed(seed))
        assert 0 <= left and left + w <= 120 and 0 <= top and top + h <= 80 and w > 0 and h > 0
        assert 0.08 * 0.9 <= w * h / (120 * 80) <= 1.0 or (w, h) == (107, 80)
    a = random_resized_crop_box(120, 80, torch.Generator().manual_seed(3))
    assert a == random_resized_crop_box(120, 80, torch.Generator().manual_seed(3))


def test_random_resized_crop_box_fallback_clamps_ratio() -> None:
    # A 1000x2 strip: no (area, aspect) draw fits, so the centre fallback is used.
    assert random_resized_crop_box(1000, 2, torch.Generator().manual_seed(0)) == (498, 0, 3, 2)


@pytest.mark.parametrize("size", [(96, 96), (130, 70), (60, 100)])
def test_pil_transforms_output_size(size: tuple[int, int]) -> None:
    img = Image.new("RGB", size, (10, 20, 30))
    out = train_transform(img, 48, torch.Generator().manual_seed(0))
    assert out.size == (48, 48)
    assert val_transform(img, 48).size == (48, 48)
    chw = to_chw_uint8(out)
    assert chw.shape == (3, 48, 48) and chw.dtype == torch.uint8
    assert chw[:, 5, 5].tolist() == [10, 20, 30]


def test_val_transform_resizes_shorter_side_then_centre_crops() -> None:
    arr = np.zeros((100, 200, 3), dtype=np.uint8)
    arr[:, 100:] = 255  # right half white
    out = np.asarray(val_transform(Image.fromarray(arr), 56))  # shorter side -> 64, crop 56
    assert out.shape == (56, 56, 3)
    assert out[:, :20].max() == 0 and out[:, 36:].min() == 255
