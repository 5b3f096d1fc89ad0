"""Image transforms: batched tensor ops (cifar style) and per-image PIL ops (imagenet style).

All randomness is passed in explicitly (offsets/flags or a ``torch.Generator``) so
that augmentation is a pure function of the loader's seeds; nothing here touches
the global RNG.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_PADDING = 4  # cifar-style random crop pads each side with this many zero pixels
VAL_CROP_FRACTION = 0.875  # imagenet-style val: resize to size/0.875, centre-crop size

_BILINEAR = Image.Resampling.BILINEAR


# --- batched tensor ops (cifar style) ---------------------------------------------------


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize (N, 3, H, W) uint8 images to (N, 3, size, size), bilinear, back to uint8.

    Used once at load time when a cifar-style image size differs from the native
    one (antialiased when shrinking; aspect ratio is not preserved).
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((len(images), images.shape[1], size, size), dtype=torch.uint8)
    shrink = size < max(images.shape[-2:])
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].float()
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
        )
        out[i : i + chunk] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


def crop_flip(
    images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int = CROP_PADDING
) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to the input size at ``offsets``, mirror where ``flips``.

    ``images`` (B, C, H, W) any dtype/device; ``offsets`` (B, 2) ints in ``[0, 2*pad]``
    giving the (top, left) corner in the padded image; ``flips`` (B,) bool.
    """
    b, _, h, w = images.shape
    dev = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    # Every possible crop as a view (B, 2p+1, 2p+1, C, H, W); pick one per sample.
    windows = padded.unfold(2, h, 1).unfold(3, w, 1).permute(0, 2, 3, 1, 4, 5)
    offsets = offsets.to(dev)
    out = windows[torch.arange(b, device=dev), offsets[:, 0], offsets[:, 1]]
    return torch.where(flips.to(dev).view(b, 1, 1, 1), out.flip(3), out)


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 ``(images / 255 - mean) / std``; mean/std are (1, 3, 1, 1)."""
    return images.float().div_(255).sub_(mean).div_(std)


# --- per-image PIL ops (imagenet style) -------------------------------------------------


def _uniform(g: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * torch.rand((), generator=g, dtype=torch.float64).item()


def _randint(g: torch.Generator, high: int) -> int:
    """Uniform integer in ``[0, high]``."""
    return int(torch.randint(high + 1, (), generator=g).item())


def random_resized_crop_box(
    width: int,
    height: int,
    g: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """Pick a crop box ``(left, top, w, h)`` like torchvision's RandomResizedCrop.

    Tries 10 random (area, aspect) draws; falls back to a centre crop with the
    aspect ratio clamped to ``ratio``.
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(g, *scale)
        aspect = math.exp(_uniform(g, *log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return _randint(g, width - w), _randint(g, height - h), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def train_transform(img: Image.Image, size: int, g: torch.Generator) -> Image.Image:
    """RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) + random horizontal flip."""
    left, top, w, h = random_resized_crop_box(img.width, img.height, g)
    img = img.resize((size, size), _BILINEAR, box=(left, top, left + w, top + h))
    if _uniform(g) < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def val_transform(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``round(size / 0.875)``, then centre-crop ``size``."""
    short = round(size / VAL_CROP_FRACTION)
    w, h = img.size
    if w <= h:
        new = (short, max(short, int(short * h / w)))
    else:
        new = (max(short, int(short * w / h)), short)
    if new != (w, h):
        img = img.resize(new, _BILINEAR)
    left = round((new[0] - size) / 2)
    top = round((new[1] - size) / 2)
    return img.crop((left, top, left + size, top + size))


def to_chw_uint8(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> (3, H, W) uint8 tensor (normalisation happens later, on device)."""
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy())
