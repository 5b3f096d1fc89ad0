"""RPReLU (ReActNet): learnable bias, per-channel PReLU, learnable bias."""

from __future__ import annotations

import torch
from torch import nn


class LearnableBias(nn.Module):
    """Adds a learned per-channel bias (``x + b_c``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.view(1, -1, *([1] * (x.dim() - 2)))


class RPReLU(nn.Module):
    """``bias1 -> PReLU (per channel) -> bias2``: the shifted, learnable activation."""

    def __init__(self, channels: int, init: float = 0.25) -> None:
        super().__init__()
        self.bias1 = LearnableBias(channels)
        self.prelu = nn.PReLU(channels, init=init)
        self.bias2 = LearnableBias(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias2(self.prelu(self.bias1(x)))
