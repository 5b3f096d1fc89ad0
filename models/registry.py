"""Model registry: ``resnet18_w2a2``, ``resnet20_fp``, ``resnet50_w4a4_lsq``, ...

A name is ``ARCH_PRECISION[_VARIANT]``: ARCH in resnet18/34/50 (ImageNet, 224x224),
resnet20 and smallcnn (CIFAR, 32x32); PRECISION ``fp`` or ``wXaY`` with X, Y in
2/3/4/8; VARIANT ``lsq`` or ``dorefa`` (uniform baselines) or ``fpds`` (N2UQ*:
full-precision downsample shortcuts). No variant means N2UQ with quantized downsample.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from models.resnet import cifar_resnet20, imagenet_resnet
from models.small_cnn import SmallCNN
from n2uq_hw.errors import fail
from n2uq_hw.quant import QuantSpec
from n2uq_hw.quant.base import SUPPORTED_BITS

ARCHS: dict[str, tuple[int, int, str]] = {  # arch -> (input size, classes, dataset style)
    "resnet18": (224, 1000, "imagenet"),
    "resnet34": (224, 1000, "imagenet"),
    "resnet50": (224, 1000, "imagenet"),
    "resnet20": (32, 10, "cifar"),
    "smallcnn": (32, 10, "cifar"),
}
LISTED_PRECISIONS = ("w2a2", "w3a3", "w4a4")
VARIANTS = ("", "fpds", "lsq", "dorefa")
_NAME = re.compile(r"^(?P<arch>[a-z]+\d*)_(?P<prec>fp|w(?P<w>\d+)a(?P<a>\d+))(?:_(?P<var>[a-z]+))?$")


@dataclass(frozen=True)
class ModelInfo:
    """What a registry name means."""

    name: str
    arch: str
    spec: QuantSpec
    downsample: str  # "quant" or "fp" (N2UQ*)
    input_size: int
    num_classes: int
    style: str  # "cifar" or "imagenet"


def known_models() -> list[str]:
    """The canonical registry names (any wXaY with X, Y in 2/3/4/8 is accepted too)."""
    names = []
    for arch in ARCHS:
        names.append(f"{arch}_fp")
        for prec in LISTED_PRECISIONS:
            for var in VARIANTS:
                if var == "fpds" and arch == "smallcnn":
                    continue
                names.append(f"{arch}_{prec}" + (f"_{var}" if var else ""))
    return names


def _unknown(name: str, why: str = "") -> None:
    bits = "/".join(map(str, SUPPORTED_BITS))
    fail(
        f"unknown model {name!r}{why}; known: {', '.join(known_models())} "
        f"(any wXaY with X, Y in {bits} also works)"
    )


def parse_model_name(name: str) -> ModelInfo:
    """Parse and validate a registry name; one clear error line when it is not known."""
    m = _NAME.match(name or "")
    if not m or m["arch"] not in ARCHS:
        _unknown(name)
    arch, var = m["arch"], m["var"] or ""
    if var not in VARIANTS:
        _unknown(name, f" (unknown variant {var!r})")
    if m["prec"] == "fp":
        if var:
            _unknown(name, " (full-precision models take no variant)")
        spec = QuantSpec("fp", None, None)
    else:
        method = var if var in ("lsq", "dorefa") else "n2uq"
        spec = QuantSpec(method, int(m["w"]), int(m["a"]))  # fails on bits out of range
    if var == "fpds" and arch == "smallcnn":
        _unknown(name, " (smallcnn has no downsample shortcut)")
    size, classes, style = ARCHS[arch]
    return ModelInfo(name, arch, spec, "fp" if var == "fpds" else "quant", size, classes, style)


_BUILDERS: dict[str, Callable[[ModelInfo], nn.Module]] = {
    "resnet18": lambda i: imagenet_resnet("resnet18", i.spec, i.downsample, i.num_classes),
    "resnet34": lambda i: imagenet_resnet("resnet34", i.spec, i.downsample, i.num_classes),
    "resnet50": lambda i: imagenet_resnet("resnet50", i.spec, i.downsample, i.num_classes),
    "resnet20": lambda i: cifar_resnet20(i.spec, i.downsample, i.num_classes),
    "smallcnn": lambda i: SmallCNN(i.spec, i.num_classes),
}


def build_model(name: str, num_classes: int | None = None) -> nn.Module:
    """Build the registry model ``name``; ``model.info`` holds its :class:`ModelInfo`."""
    info = parse_model_name(name)
    if num_classes is not None:
        if num_classes < 2:
            fail(f"num_classes must be >= 2, got {num_classes}")
        info = ModelInfo(info.name, info.arch, info.spec, info.downsample, info.input_size,
                         num_classes, info.style)
    model = _BUILDERS[info.arch](info)
    model.info = info
    return model
