"""ResNet-18/34/50 (ImageNet, 224x224) and ResNet-20 (CIFAR, 32x32) in the N2UQ layout.

The first conv and the final FC stay full precision (8-bit in hardware); every other
conv is quantized. Layer widths and depths are the standard ones, so the conv, BN and
FC parameter counts equal torchvision's ResNets (ResNet-20 uses 1x1 conv downsampling).
"""

from __future__ import annotations

import torch
from torch import nn

from models.blocks import BasicBlock, Bottleneck
from models.units import stem_conv
from n2uq_hw.quant import QuantSpec

IMAGENET_DEPTHS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """Stem, four (ImageNet) or three (CIFAR) stages of blocks, average pool, FC."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        depths: tuple[int, ...],
        widths: tuple[int, ...],
        spec: QuantSpec,
        num_classes: int,
        imagenet_stem: bool,
        downsample: str = "quant",
    ) -> None:
        super().__init__()
        if len(depths) != len(widths):
            raise ValueError("depths and widths must have the same length")
        if imagenet_stem:
            self.stem = stem_conv(3, widths[0], 7, 2)
            self.pool = nn.MaxPool2d(3, 2, 1)
        else:
            self.stem = stem_conv(3, widths[0], 3, 1)
            self.pool = None
        channels = widths[0]
        stages = []
        for i, (depth, width) in enumerate(zip(depths, widths)):
            blocks = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(channels, width, stride, spec, downsample))
                channels = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.pool is not None:
            x = self.pool(x)
        x = self.stages(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def imagenet_resnet(arch: str, spec: QuantSpec, downsample: str = "quant", num_classes: int = 1000) -> ResNet:
    """ResNet-18/34/50 for 224x224 inputs."""
    block, depths = IMAGENET_DEPTHS[arch]
    return ResNet(block, depths, (64, 128, 256, 512), spec, num_classes, True, downsample)


def cifar_resnet20(spec: QuantSpec, downsample: str = "quant", num_classes: int = 10) -> ResNet:
    """ResNet-20 for 32x32 inputs: 3 stages of 3 basic blocks, 16/32/64 channels."""
    return ResNet(BasicBlock, (3, 3, 3), (16, 32, 64), spec, num_classes, False, downsample)
