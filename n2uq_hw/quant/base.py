"""Common interface of all quantizers and the quantization spec of a model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from n2uq_hw.errors import fail

SUPPORTED_BITS = (2, 3, 4, 8)
METHODS = ("n2uq", "lsq", "dorefa", "fp")


def check_bits(bits: int, what: str = "bit width") -> int:
    """Return ``bits`` if supported, else fail with one clear line."""
    if not isinstance(bits, int) or isinstance(bits, bool) or bits not in SUPPORTED_BITS:
        fail(f"{what} {bits!r} out of range (supported: {', '.join(map(str, SUPPORTED_BITS))})")
    return bits


@dataclass(frozen=True)
class QuantSpec:
    """How a model is quantized: method and weight/activation bit widths.

    ``method == "fp"`` means full precision (no quantizers, bits are None).
    """

    method: str = "n2uq"
    wbits: int | None = 2
    abits: int | None = 2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            fail(f"unknown quantization method {self.method!r} (known: {', '.join(METHODS)})")
        if self.method == "fp":
            if self.wbits is not None or self.abits is not None:
                fail("full-precision spec takes no bit widths")
        else:
            check_bits(self.wbits, "weight bit width")
            check_bits(self.abits, "activation bit width")

    @property
    def quantized(self) -> bool:
        return self.method != "fp"


class ActQuantizer(nn.Module):
    """Base of activation quantizers: ``forward(x) = codes(x) * step`` (fake quant)."""

    is_quantizer = True
    bits: int

    @property
    def levels(self) -> int:
        """Largest code ``N = 2^bits - 1``; codes are ``0..N``."""
        return 2**self.bits - 1

    def codes(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Integer codes (int64, in ``0..N``) for input ``x``."""
        raise NotImplementedError

    def output_step(self) -> torch.Tensor:  # pragma: no cover - interface
        """Float value of one code step: ``forward(x) == codes(x) * output_step()``."""
        raise NotImplementedError


class WeightQuantizer(nn.Module):
    """Base of weight quantizers: ``forward(w) = codes(w) * scale`` (per channel or tensor)."""

    is_quantizer = True
    bits: int

    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """``(m, scale)``: integer codes (int64) and a scale broadcastable to ``w``."""
        raise NotImplementedError


def quantizer_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters owned by quantizer modules (trained at a reduced learning rate)."""
    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        if getattr(module, "is_quantizer", False):
            for p in module.parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params
