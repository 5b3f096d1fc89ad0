"""A small CNN (32x32 input) with every layer kind of the N2UQ layout, for fast tests."""

from __future__ import annotations

import torch
from torch import nn

from models.units import QConvUnit, stem_conv
from n2uq_hw.quant import QuantSpec, RPReLU


class SmallCNN(nn.Module):
    """``stem 3x3 -> unit 3x3 -> maxpool 2 -> unit 3x3/2 -> RPReLU -> avgpool -> FC``."""

    def __init__(self, spec: QuantSpec, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.stem = stem_conv(3, width, 3, 1)
        self.unit1 = QConvUnit(width, 2 * width, 3, 1, spec)
        self.pool = nn.MaxPool2d(2)
        self.unit2 = QConvUnit(2 * width, 2 * width, 3, 2, spec)
        self.act_out = RPReLU(2 * width)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.unit1(self.stem(x)))
        x = self.act_out(self.unit2(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))
