"""Residual blocks in the N2UQ layout (pre-activation with RPReLU, full-precision stream).

BasicBlock: ``x -> RPReLU -> Q -> conv3x3 -> BN -> RPReLU -> Q -> conv3x3 -> BN
(+ shortcut) -> RPReLU``. The shortcut is the identity, or a downsample: the quantized
variant ``Q -> conv1x1/s -> BN`` reads the block's first RPReLU output (sharing it with
conv1, so one activation tensor feeds both), the full-precision variant (N2UQ*)
``conv1x1/s -> BN`` reads the block input.
"""

from __future__ import annotations

import torch
from torch import nn

from models.units import QConvUnit
from n2uq_hw.quant import QuantSpec, RPReLU

DOWNSAMPLE_KINDS = ("quant", "fp")


class _Block(nn.Module):
    """Shared wiring: a chain of :class:`QConvUnit`, a shortcut, and the output RPReLU."""

    expansion = 1

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, spec: QuantSpec, downsample: str
    ) -> None:
        super().__init__()
        if downsample not in DOWNSAMPLE_KINDS:
            raise ValueError(f"downsample must be one of {DOWNSAMPLE_KINDS}, got {downsample!r}")
        self.downsample_kind = downsample
        self.stride = stride
        self.shortcut: QConvUnit | None = None
        if stride != 1 or in_channels != out_channels:
            fp = QuantSpec("fp", None, None)
            self.shortcut = QConvUnit(
                in_channels, out_channels, 1, stride, spec if downsample == "quant" else fp,
                with_act=False,
            )
        self.act_out = RPReLU(out_channels)

    def units(self) -> list[QConvUnit]:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        units = self.units()
        r = units[0].act(x)
        out = units[0].forward_from(r)
        for unit in units[1:]:
            out = unit(out)
        if self.shortcut is None:
            identity = x
        elif self.downsample_kind == "quant":
            identity = self.shortcut.forward_from(r)
        else:
            identity = self.shortcut.forward_from(x)
        return self.act_out(out + identity)


class BasicBlock(_Block):
    """Two 3x3 quantized convs (ResNet-18/34, ResNet-20)."""

    expansion = 1

    def __init__(
        self, in_channels: int, planes: int, stride: int, spec: QuantSpec, downsample: str = "quant"
    ) -> None:
        super().__init__(in_channels, planes, stride, spec, downsample)
        self.unit1 = QConvUnit(in_channels, planes, 3, stride, spec)
        self.unit2 = QConvUnit(planes, planes, 3, 1, spec)

    def units(self) -> list[QConvUnit]:
        return [self.unit1, self.unit2]


class Bottleneck(_Block):
    """1x1 -> 3x3 (stride) -> 1x1 quantized convs with expansion 4 (ResNet-50)."""

    expansion = 4

    def __init__(
        self, in_channels: int, planes: int, stride: int, spec: QuantSpec, downsample: str = "quant"
    ) -> None:
        out_channels = planes * self.expansion
        super().__init__(in_channels, out_channels, stride, spec, downsample)
        self.unit1 = QConvUnit(in_channels, planes, 1, 1, spec)
        self.unit2 = QConvUnit(planes, planes, 3, stride, spec)
        self.unit3 = QConvUnit(planes, out_channels, 1, 1, spec)

    def units(self) -> list[QConvUnit]:
        return [self.unit1, self.unit2, self.unit3]
