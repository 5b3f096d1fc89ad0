"""N2UQ activation quantizer: learned nonuniform input thresholds, uniform output levels.

One fused autograd function computes codes with a single ``bucketize`` against the N
interval midpoints and the generalised straight-through gradient (G-STE) from a handful
of full-size temporaries, instead of the 2N that a sum of per-level step functions needs.
Formulas: ``shared/N2UQ.md``; all names follow it (``s``, ``a``, ``beta1``, ``beta2``).
"""

from __future__ import annotations

import torch
from torch import nn

from n2uq_hw.quant.base import ActQuantizer, check_bits

A_MIN = 1e-3  # lengths are clamped to this (no gradient reaches a clamped length)


def clamped_lengths(a: torch.Tensor) -> torch.Tensor:
    """``â_i = a_i if a_i > 1e-3 else 1e-3``."""
    return torch.where(a > A_MIN, a, torch.full_like(a, A_MIN))


def edges_and_thresholds(
    s: torch.Tensor, a_hat: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interval edges ``d_0..d_N`` and midpoint thresholds ``t_1..t_N`` (in ``u`` units)."""
    d = torch.cat([s.reshape(1), s.reshape(1) + torch.cumsum(a_hat, 0)])
    t = d[:-1] + a_hat / 2
    return d, t


class _N2UQActFunction(torch.autograd.Function):
    """Fused forward ``y = beta2 * D * #{i: beta1*x > t_i}`` and its G-STE backward."""

    @staticmethod
    def forward(ctx, x, s, a, beta1, beta2, bits: int):  # type: ignore[override]
        n = 2**bits - 1
        step = 2.0 / n
        xf = x.float()
        a_hat = clamped_lengths(a)
        d, t = edges_and_thresholds(s, a_hat)
        u = xf * beta1
        k = torch.bucketize(u, t)  # number of t_i strictly below u: strict ">"
        ctx.save_for_backward(xf, a, a_hat, d, t, beta1, beta2)
        ctx.bits = bits
        return (k.to(torch.float32) * (beta2 * step)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        xf, a, a_hat, d, t, beta1, beta2 = ctx.saved_tensors
        n = 2**ctx.bits - 1
        step = 2.0 / n
        g = grad_y.float()
        u = xf * beta1
        # interval index: j in 1..N means d_{j-1} < u <= d_j; 0 and N+1 are outside
        j = torch.bucketize(u, d)
        inside = (j >= 1) & (j <= n)
        jm1 = (j - 1).clamp_(0, n - 1)
        inv = (1.0 / a_hat)[jm1]
        w = torch.where(inside, g * inv, torch.zeros_like(g)) * (beta2 * step)
        grad_x = (w * beta1).to(grad_y.dtype)
        grad_s = -w.sum()
        grad_beta1 = (w * xf).sum()
        k = torch.bucketize(u, t)
        grad_beta2 = (g * k.to(g.dtype)).sum() * step
        # d y / d â_i: own interval -(u - d_{i-1}) / â_i * w, later intervals -w
        flat = jm1.reshape(-1)
        own = torch.zeros(n, dtype=g.dtype, device=g.device)
        own.scatter_add_(0, flat, (-w * (u - d[jm1]) * inv).reshape(-1))
        per = torch.zeros(n, dtype=g.dtype, device=g.device)
        per.scatter_add_(0, flat, w.reshape(-1))
        later = torch.flip(torch.cumsum(torch.flip(per, [0]), 0), [0]) - per  # sum_{j>i}
        grad_a = torch.where(a > A_MIN, own - later, torch.zeros_like(own))
        return (
            grad_x,
            grad_s.reshape(()),
            grad_a,
            grad_beta1.reshape(()),
            grad_beta2.reshape(()),
            None,
        )


class N2UQActQuant(ActQuantizer):
    """N2UQ learnable threshold quantizer (LTQ), one per quantized conv input."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = check_bits(bits, "activation bit width")
        n = self.levels
        self.s = nn.Parameter(torch.zeros(()))
        self.a = nn.Parameter(torch.full((n,), 2.0 / n))
        self.beta1 = nn.Parameter(torch.ones(()))
        self.beta2 = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _N2UQActFunction.apply(x, self.s, self.a, self.beta1, self.beta2, self.bits)

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        _, t = edges_and_thresholds(self.s, clamped_lengths(self.a))
        return torch.bucketize(x.float() * self.beta1, t)

    @torch.no_grad()
    def thresholds(self) -> torch.Tensor:
        """Thresholds ``t_i`` on ``u = beta1 * x`` (ascending): ``code = #{i: u > t_i}``."""
        return edges_and_thresholds(self.s, clamped_lengths(self.a))[1].clone()

    @torch.no_grad()
    def input_thresholds(self) -> torch.Tensor:
        """Thresholds ``t_i / beta1`` on the input ``x`` (requires ``beta1 > 0``)."""
        if float(self.beta1) <= 0:
            raise ValueError("input_thresholds needs beta1 > 0; use thresholds() and beta1")
        return self.thresholds() / self.beta1

    @torch.no_grad()
    def output_step(self) -> torch.Tensor:
        return (self.beta2 * (2.0 / self.levels)).detach().clone()

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
