"""N2UQ activation quantizer: learned nonuniform input thresholds, uniform output levels.

The edges ``d_0..d_N`` and midpoints ``t_1..t_N`` are merged into one ascending list of
``2N+1`` boundaries. One pass assigns every element its bin ``idx = #{b : u > b}``:
the code is ``k = idx // 2`` and the G-STE interval is ``(idx + 1) // 2`` (bins 0 and
2N+1 lie outside ``(d_0, d_N]``). The forward keeps only ``idx`` (one byte per element);
the backward needs three per-bin sums (of ``g``, ``g*x`` and ``g*(u - d_{j-1})``) from
which every parameter gradient follows in closed form, and one gathered factor per
element for ``dL/dx``. That is a handful of full-size passes, or on CUDA fused Triton
kernels that also do the parameter-side math (``ltq_triton.py``; one launch forward, three
backward), instead of the 2N full-size temporaries of a sum of step functions.
``N2UQ_LTQ_ENGINE`` (``auto``, ``torch``, ``triton``, ``triton_v1``) picks the path.
Formulas: ``shared/N2UQ.md``; names follow it (``s``, ``a``, ``beta1``, ``beta2``).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from n2uq_hw.quant.base import ActQuantizer, check_bits

A_MIN = 1e-3  # lengths are clamped to this (no gradient reaches a clamped length)
ENGINES = ("auto", "torch", "triton", "triton_v1")


def clamped_lengths(a: torch.Tensor) -> torch.Tensor:
    """``â_i = a_i if a_i > 1e-3 else 1e-3``."""
    return torch.where(a > A_MIN, a, torch.full_like(a, A_MIN))


def edges_and_thresholds(
    s: torch.Tensor, a_hat: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interval edges ``d_0..d_N`` and midpoint thresholds ``t_1..t_N`` (in ``u`` units)."""
    # lengths accumulated in float64 (what the CPU cumsum does anyway), so the edges are the
    # same on every device and in the Triton kernels
    cum = torch.cumsum(a_hat, 0, dtype=torch.float64).to(a_hat.dtype)
    d = torch.cat([s.reshape(1), s.reshape(1) + cum])
    t = d[:-1] + a_hat / 2
    return d, t


def merged_boundaries(d: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``[d_0, t_1, d_1, t_2, ..., t_N, d_N]``, made non-decreasing against rounding."""
    b = torch.empty(2 * t.numel() + 1, dtype=d.dtype, device=d.device)
    b[0::2] = d
    b[1::2] = t
    return torch.cummax(b, 0).values


def bin_tables(a_hat: torch.Tensor, d: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor,
               step: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin ``dy/dx`` factor, lower interval edge ``d_{j-1}`` and code ``k`` (2N+2 each)."""
    n = a_hat.numel()
    zero = a_hat.new_zeros(1)
    slope = beta1 * beta2 * step / a_hat  # dy/dx inside interval i
    xtab = torch.cat([zero, slope.repeat_interleave(2), zero])
    lotab = torch.cat([zero, d[:-1].repeat_interleave(2), zero])
    ktab = torch.arange(2 * n + 2, device=a_hat.device, dtype=a_hat.dtype) // 2
    return xtab, lotab, ktab


def grads_from_bins(
    sums: torch.Tensor, a: torch.Tensor, a_hat: torch.Tensor, beta1: torch.Tensor,
    beta2: torch.Tensor, step: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of ``s``, ``a``, ``beta1``, ``beta2`` from per-bin sums.

    ``sums`` is (3, 2N+2): per bin the sums of ``g``, ``g*x`` and ``g*(u - d_{j-1})``.
    With ``c_i = beta2*D/â_i`` and interval sums ``G_i, X_i, R_i`` (bins 2i-1 and 2i):
    ``ds = -sum c_i G_i``, ``dbeta1 = sum c_i X_i``, ``dâ_i = -c_i R_i/â_i - sum_{j>i} c_j G_j``,
    ``dbeta2 = D * sum_bins k * G``.
    """
    n = a_hat.numel()
    sums = sums.to(a_hat.dtype)
    g_bin = sums[0]
    inner = sums[:, 1 : 2 * n + 1].reshape(3, n, 2).sum(2)
    c = beta2 * step / a_hat
    w = c * inner[0]  # sum of dy/ds contributions per interval (negated below)
    grad_s = -w.sum()
    grad_beta1 = (c * inner[1]).sum()
    later = torch.flip(torch.cumsum(torch.flip(w, [0]), 0), [0]) - w
    grad_a_hat = -c * inner[2] / a_hat - later
    grad_a = torch.where(a > A_MIN, grad_a_hat, torch.zeros_like(grad_a_hat))
    k = torch.arange(2 * n + 2, device=a.device, dtype=g_bin.dtype) // 2
    grad_beta2 = (g_bin * k).sum() * step
    return grad_s.reshape(()), grad_a, grad_beta1.reshape(()), grad_beta2.reshape(())


def _engine(x: torch.Tensor, bits: int) -> str:
    choice = os.environ.get("N2UQ_LTQ_ENGINE", "auto")
    if choice not in ENGINES:
        raise ValueError(f"N2UQ_LTQ_ENGINE must be one of {ENGINES}, got {choice!r}")
    if choice == "torch" or bits > 4 or x.numel() == 0:  # the kernels take up to 31 bounds
        return "torch"
    if choice == "auto":
        from n2uq_hw.quant import ltq_triton

        return "triton" if x.is_cuda and ltq_triton.available() else "torch"
    return choice


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Thresholds and codes are always computed in float32, whatever the input dtype, so
    that a model's codes (and the integer thresholds lowered from them) never depend on it."""
    return torch.float32


class _N2UQActFunction(torch.autograd.Function):
    """Fused forward ``y = beta2 * D * #{i: beta1*x > t_i}`` and its G-STE backward."""

    @staticmethod
    def forward(ctx, x, s, a, beta1, beta2, bits: int):  # type: ignore[override]
        engine = _engine(x, bits)
        ctx.bits, ctx.engine = bits, engine
        ctx.param_dtypes = (s.dtype, a.dtype, beta1.dtype, beta2.dtype)
        if engine == "triton":  # everything in the kernels, from the raw parameters
            from n2uq_hw.quant import ltq_triton

            xc = x.contiguous()
            y, idx = ltq_triton.fused_forward(xc, s, a, beta1, beta2, bits)
            ctx.save_for_backward(xc, idx, s, a, beta1, beta2)
            return y
        n = 2**bits - 1
        step = 2.0 / n
        ct = _compute_dtype(x)
        a_hat = clamped_lengths(a.to(ct))
        d, t = edges_and_thresholds(s.to(ct), a_hat)
        bounds = merged_boundaries(d, t)
        b1, b2 = beta1.to(ct), beta2.to(ct)
        if engine == "triton_v1":
            from n2uq_hw.quant import ltq_triton

            xc = x.contiguous()
            y, idx = ltq_triton.forward(xc, bounds, b1, b2 * step)
        else:
            xc = x
            big = torch.bucketize(x.to(ct) * b1, bounds)
            y = (big.to(ct) // 2 * (b2 * step)).to(x.dtype)
            idx = big.to(torch.uint8 if 2 * n + 1 < 256 else torch.int16)
        ctx.save_for_backward(xc, idx, a, a_hat, d, b1, b2)
        return y

    @staticmethod
    def backward(ctx, grad_y):  # type: ignore[override]
        if ctx.engine == "triton":
            from n2uq_hw.quant import ltq_triton

            x, idx, s, a, beta1, beta2 = ctx.saved_tensors
            grads = ltq_triton.fused_backward(grad_y.contiguous(), x, idx, s, a, beta1, beta2,
                                              ctx.bits)
        else:
            grads = _N2UQActFunction._backward_unfused(ctx, grad_y)
        grad_x, *param_grads = grads
        return (grad_x, *(g.to(dt) for g, dt in zip(param_grads, ctx.param_dtypes)), None)

    @staticmethod
    def _backward_unfused(ctx, grad_y):
        x, idx, a, a_hat, d, b1, b2 = ctx.saved_tensors
        n = 2**ctx.bits - 1
        step = 2.0 / n
        xtab, lotab, _ = bin_tables(a_hat, d, b1, b2, step)
        if ctx.engine == "triton_v1":
            from n2uq_hw.quant import ltq_triton

            grad_x, sums = ltq_triton.backward(grad_y.contiguous(), x, idx, xtab, lotab, b1)
        else:
            ct = a_hat.dtype
            g = grad_y.to(ct)
            xf = x.to(ct)
            bins = idx.long()
            grad_x = (g * xtab[bins]).to(grad_y.dtype)
            flat = bins.reshape(-1)
            sums = torch.zeros(3, 2 * n + 2, dtype=ct, device=g.device)
            sums[0].scatter_add_(0, flat, g.reshape(-1))
            sums[1].scatter_add_(0, flat, (g * xf).reshape(-1))
            sums[2].scatter_add_(0, flat, (g * (xf * b1 - lotab[bins])).reshape(-1))
        return (grad_x, *grads_from_bins(sums, a, a_hat, b1, b2, step))


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
        """Integer codes ``k`` (int64), exactly those the forward pass uses."""
        ct = _compute_dtype(x)
        d, t = edges_and_thresholds(self.s.to(ct), clamped_lengths(self.a.to(ct)))
        return torch.bucketize(x.to(ct) * self.beta1.to(ct), merged_boundaries(d, t)) // 2

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
