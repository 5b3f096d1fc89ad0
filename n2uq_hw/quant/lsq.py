"""LSQ baseline (Esser et al. 2020): learned step size, uniform levels.

Activations are unsigned (codes ``0..2^b-1``), weights signed (``-2^(b-1)..2^(b-1)-1``),
one step per tensor, gradient scale ``1/sqrt(numel * Qp)``. The step is initialised on
the first forward pass from the data (``2 mean|x| / sqrt(Qp)``), so it follows whatever
checkpoint was loaded before that pass.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from n2uq_hw.quant.base import ActQuantizer, WeightQuantizer, check_bits


def _grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    return (x - x * scale).detach() + x * scale


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return (x.round() - x).detach() + x


class _LSQ(nn.Module):
    """Learned-step uniform quantizer over the integer range ``[qn, qp]``."""

    is_quantizer = True

    def __init__(self, bits: int, qn: int, qp: int) -> None:
        super().__init__()
        self.bits = bits
        self.qn, self.qp = qn, qp
        self.step = nn.Parameter(torch.ones(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self._ready = False  # host-side mirror of ``initialized``: no device sync per forward

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._ready = bool(self.initialized)

    def _maybe_init(self, x: torch.Tensor) -> None:
        if self._ready:
            return
        if not bool(self.initialized):
            with torch.no_grad():
                init = 2 * x.detach().abs().mean() / math.sqrt(self.qp)
                self.step.copy_(init.clamp_min(1e-8))
                self.initialized.fill_(True)
        self._ready = True

    def _integer(self, x: torch.Tensor) -> torch.Tensor:
        self._maybe_init(x)
        g = 1.0 / math.sqrt(x.numel() * self.qp)
        s = _grad_scale(self.step, g)
        return _round_ste(torch.clamp(x / s, self.qn, self.qp)) * s

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(x / self.step), self.qn, self.qp).to(torch.int64)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, range=[{self.qn}, {self.qp}]"


class LSQActQuant(_LSQ, ActQuantizer):
    """Unsigned LSQ activation quantizer."""

    def __init__(self, bits: int) -> None:
        check_bits(bits, "activation bit width")
        super().__init__(bits, 0, 2**bits - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._integer(x)

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self._codes(x)

    @torch.no_grad()
    def output_step(self) -> torch.Tensor:
        return self.step.detach().clone()


class LSQWeightQuant(_LSQ, WeightQuantizer):
    """Signed LSQ weight quantizer (one step per tensor)."""

    def __init__(self, bits: int) -> None:
        check_bits(bits, "weight bit width")
        super().__init__(bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self._integer(w)

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._codes(w), self.step.detach().clone()
