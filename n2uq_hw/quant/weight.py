"""N2UQ entropy-preserving weight quantizer (per output channel, odd integer levels).

``alpha_c = ((2^b - 1) / 2^(b-1)) * mean|W_c|``; ``Q = alpha_c * (round((clip(W/alpha_c)+1) N/2) 2/N - 1)``.
The codes are the odd integers ``m = 2 r - N`` and ``Q = m * mean|W_c| / 2^(b-1)``.
Backward, as in the reference code: ``dL/dW = dL/dQ / alpha_c`` where ``|W/alpha_c| <= 1``.
"""

from __future__ import annotations

import os

import torch

from n2uq_hw.quant.base import WeightQuantizer, check_bits

_EPS = 1e-12  # keeps an all-zero channel finite (its codes are then +1s times ~0)
ENGINES = ("auto", "torch", "triton")


def _use_triton(w: torch.Tensor, bits: int) -> bool:
    """``N2UQ_WQ_ENGINE``: ``auto`` (Triton kernels on CUDA when Triton is installed),
    ``torch`` or ``triton``."""
    choice = os.environ.get("N2UQ_WQ_ENGINE", "auto")
    if choice not in ENGINES:
        raise ValueError(f"N2UQ_WQ_ENGINE must be one of {ENGINES}, got {choice!r}")
    if choice == "torch" or w.dim() < 2 or w.numel() == 0:
        return False
    from n2uq_hw.quant import weight_triton

    return choice == "triton" or (w.is_cuda and weight_triton.available())


def channel_alpha(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel ``alpha_c`` (detached), shaped to broadcast against ``w``."""
    n = 2**bits - 1
    dims = tuple(range(1, w.dim()))
    mean_abs = w.detach().abs().mean(dim=dims, keepdim=True)
    return (n / 2 ** (bits - 1)) * mean_abs.clamp_min(_EPS)


def level_index(w: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """``r = round((clip(W/alpha, -1, 1) + 1) * N / 2)`` in ``0..N`` (float)."""
    n = 2**bits - 1
    return torch.round((torch.clamp(w / alpha, -1.0, 1.0) + 1.0) * (n / 2.0))


class _N2UQWeightFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, bits: int):  # type: ignore[override]
        ctx.triton = _use_triton(w, bits)
        if ctx.triton:
            from n2uq_hw.quant import weight_triton

            wc = w.contiguous()
            q, alpha = weight_triton.forward(wc, bits)
            ctx.save_for_backward(wc, alpha)
            return q
        n = 2**bits - 1
        alpha = channel_alpha(w, bits)
        r = level_index(w, alpha, bits)
        ctx.save_for_backward(w, alpha)
        return alpha * (r * (2.0 / n) - 1.0)

    @staticmethod
    def backward(ctx, grad_q):  # type: ignore[override]
        w, alpha = ctx.saved_tensors
        if ctx.triton:
            from n2uq_hw.quant import weight_triton

            return weight_triton.backward(grad_q.contiguous(), w, alpha), None
        inside = (w / alpha).abs() <= 1.0
        return torch.where(inside, grad_q / alpha, torch.zeros_like(grad_q)), None


class N2UQWeightQuant(WeightQuantizer):
    """Entropy-preserving weight normalisation + uniform odd levels (no learned scale)."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = check_bits(bits, "weight bit width")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _N2UQWeightFunction.apply(w, self.bits)

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Odd codes ``m in {-N, ..., N}`` and per-channel scale ``alpha_c / N``."""
        n = 2**self.bits - 1
        alpha = channel_alpha(w, self.bits)
        m = 2 * level_index(w, alpha, self.bits).to(torch.int64) - n
        return m, alpha / n

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
