"""The quantized conv unit of the N2UQ layout: ``RPReLU -> quantizer -> qconv -> BN``."""

from __future__ import annotations

import torch
from torch import nn

from n2uq_hw.quant import QConv2d, QuantSpec, RPReLU, make_act_quant, make_weight_quant


class QConvUnit(nn.Module):
    """``act (RPReLU) -> quant (activation quantizer) -> conv (QConv2d) -> bn``.

    At full precision ``quant`` is None and ``conv`` is a plain convolution, so the
    FP twin has exactly the quantized model's keys minus the quantizer parameters.
    ``forward_from`` starts after the RPReLU when a block shares it with its shortcut.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        spec: QuantSpec,
        with_act: bool = True,
    ) -> None:
        super().__init__()
        self.act = RPReLU(in_channels) if with_act else None
        self.quant = make_act_quant(spec)
        self.conv = QConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            weight_quant=make_weight_quant(spec),
        )
        self.bn = nn.BatchNorm2d(out_channels)

    def forward_from(self, r: torch.Tensor) -> torch.Tensor:
        """Run quantizer, conv and BN on an already-activated input ``r``."""
        q = r if self.quant is None else self.quant(r)
        return self.bn(self.conv(q))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(x if self.act is None else self.act(x))


def stem_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    """Full-precision first conv + BN (8-bit in hardware, see the integer contract)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )
