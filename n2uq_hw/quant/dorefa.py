"""DoReFa baseline (Zhou et al. 2016): fixed uniform levels, straight-through rounding.

Activations: ``k = round(N * clip(x, 0, 1))``. Weights: ``tanh`` normalised to
``[0, 1]`` per tensor, quantized to ``N`` steps and mapped to ``[-1, 1]``, so the codes
are the odd integers ``-N..N`` times ``1/N`` (like N2UQ, without the per-channel scale).
"""

from __future__ import annotations

import torch

from n2uq_hw.quant.base import ActQuantizer, WeightQuantizer, check_bits


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return (x.round() - x).detach() + x


class DoReFaActQuant(ActQuantizer):
    """``round(N * clip(x, 0, 1)) / N`` with a straight-through gradient inside [0, 1]."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = check_bits(bits, "activation bit width")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.levels
        return _round_ste(torch.clamp(x, 0.0, 1.0) * n) / n

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(torch.clamp(x, 0.0, 1.0) * self.levels).to(torch.int64)

    @torch.no_grad()
    def output_step(self) -> torch.Tensor:
        return torch.tensor(1.0 / self.levels)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class DoReFaWeightQuant(WeightQuantizer):
    """``2 * round(N * (tanh(w) / (2 max|tanh w|) + 1/2)) / N - 1``."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = check_bits(bits, "weight bit width")

    def _unit(self, w: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(w)
        return t / (2 * t.detach().abs().max().clamp_min(1e-12)) + 0.5

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = 2**self.bits - 1
        return 2 * _round_ste(self._unit(w) * n) / n - 1

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = 2**self.bits - 1
        m = 2 * torch.round(self._unit(w) * n).to(torch.int64) - n
        return m, torch.tensor(1.0 / n)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
