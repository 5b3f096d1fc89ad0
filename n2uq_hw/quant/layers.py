"""Convolution and linear layers whose weights pass through a weight quantizer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from n2uq_hw.quant.base import WeightQuantizer


class QConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias) using ``weight_quant(weight)``; plain conv when it is None."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        weight_quant: WeightQuantizer | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.weight_quant = weight_quant

    def quantized_weight(self) -> torch.Tensor:
        return self.weight if self.weight_quant is None else self.weight_quant(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.quantized_weight(), None, self.stride, self.padding)


class QLinear(nn.Linear):
    """``nn.Linear`` using ``weight_quant(weight)``; plain linear when it is None."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        weight_quant: WeightQuantizer | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.weight_quant = weight_quant

    def quantized_weight(self) -> torch.Tensor:
        return self.weight if self.weight_quant is None else self.weight_quant(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantized_weight(), self.bias)
