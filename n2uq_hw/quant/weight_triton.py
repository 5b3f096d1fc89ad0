"""Triton kernels for the N2UQ weight quantizer on CUDA (one launch each way).

Forward: one program per output channel computes ``alpha_c = ((2^b-1)/2^(b-1)) *
max(mean|W_c|, 1e-12)``, writes it to a per-channel buffer, and quantizes the channel:
``Q = alpha_c * (r * 2/N - 1)`` with ``r = round_half_even((clip(W/alpha_c, -1, 1) + 1) N/2)``.
Backward: ``dL/dW = dL/dQ / alpha_c`` where ``|W/alpha_c| <= 1``, else 0. The torch path
(``weight.py``) takes about ten small ops each way per conv; this is the same function
(the channel sum of ``|W|`` is accumulated in float64 and rounded once, then divided as
the torch path does; where the torch path's float32 sum is not correctly rounded,
``alpha_c`` differs from it in the last bit). Tested against the torch path in Triton's interpreter.
"""

from __future__ import annotations

import torch

try:  # Triton is optional: CPU installs do without it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None

EPS = 1e-12  # weight._EPS
MAX_BLOCK = 4096  # elements of a channel handled per chunk
BLOCK = 1024  # elements per program in the backward


def available() -> bool:
    """True when Triton can be imported."""
    return triton is not None


if triton is not None:

    @triton.jit
    def _wq_fwd_kernel(w_ptr, q_ptr, alpha_ptr, K, KF, SCALE: tl.constexpr, HALF_N: tl.constexpr,
                       STEP: tl.constexpr, EPS_: tl.constexpr, CHUNK: tl.constexpr,
                       NCHUNK: tl.constexpr):
        c = tl.program_id(0)
        row = c * K
        acc = tl.zeros([CHUNK], dtype=tl.float64)  # sum|W| in float64, rounded once
        for k in tl.static_range(NCHUNK):
            offs = k * CHUNK + tl.arange(0, CHUNK)
            w = tl.load(w_ptr + row + offs, mask=offs < K, other=0.0).to(tl.float32)
            acc += tl.abs(w).to(tl.float64)
        mean = tl.math.div_rn(tl.sum(acc, axis=0).to(tl.float32), KF)  # KF = float(K)
        alpha = SCALE * tl.maximum(mean, EPS_)
        tl.store(alpha_ptr + c, alpha)
        for k in tl.static_range(NCHUNK):
            offs = k * CHUNK + tl.arange(0, CHUNK)
            mask = offs < K
            w = tl.load(w_ptr + row + offs, mask=mask, other=0.0).to(tl.float32)
            v = (tl.minimum(tl.maximum(tl.math.div_rn(w, alpha), -1.0), 1.0) + 1.0) * HALF_N
            r = (v + 8388608.0) - 8388608.0  # round half to even (0 <= v <= N < 2^22)
            q = alpha * (r * STEP - 1.0)
            tl.store(q_ptr + row + offs, q.to(q_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _wq_bwd_kernel(g_ptr, w_ptr, alpha_ptr, gw_ptr, n, K, BLOCK_SIZE: tl.constexpr):
        offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        alpha = tl.load(alpha_ptr + offs // K, mask=mask, other=1.0)
        inside = tl.abs(tl.math.div_rn(w, alpha)) <= 1.0
        gw = tl.where(inside, tl.math.div_rn(g, alpha), 0.0)
        tl.store(gw_ptr + offs, gw.to(gw_ptr.dtype.element_ty), mask=mask)


def forward(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Q, alpha)`` for a contiguous weight ``w`` (output channels first)."""
    n = 2**bits - 1
    cout = w.shape[0]
    k = w.numel() // cout
    chunk = min(triton.next_power_of_2(k), MAX_BLOCK)
    q = torch.empty_like(w)
    alpha = torch.empty(cout, dtype=torch.float32, device=w.device)
    _wq_fwd_kernel[(cout,)](w, q, alpha, k, float(k), SCALE=n / 2 ** (bits - 1), HALF_N=n / 2.0,
                            STEP=2.0 / n, EPS_=EPS, CHUNK=chunk,
                            NCHUNK=triton.cdiv(k, chunk), num_warps=4 if chunk <= 1024 else 8)
    return q, alpha


def backward(g: torch.Tensor, w: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``dL/dW`` for contiguous ``g`` and ``w``."""
    n = w.numel()
    gw = torch.empty_like(g)
    _wq_bwd_kernel[(triton.cdiv(n, BLOCK),)](g, w, alpha, gw, n, n // w.shape[0],
                                            BLOCK_SIZE=BLOCK)
    return gw


def compare_engines(device: torch.device | str) -> dict:
    """Torch path vs Triton kernels on random weights (several shapes, 2, 3 and 4 bits).

    Codes may differ only where the torch path's scaled value lies within 1e-4 of a
    rounding tie (the channel mean is summed in another order); ``Q`` and ``dL/dW`` agree
    to a few float32 ulps of ``alpha_c`` elsewhere.
    """
    import os

    from n2uq_hw.quant.weight import N2UQWeightQuant, channel_alpha

    device = torch.device(device)
    previous = os.environ.get("N2UQ_WQ_ENGINE")
    out = {}
    try:
        for bits in (2, 3, 4):
            worst = {"q_rel": 0.0, "grad_rel": 0.0, "code_mismatch_off_tie": 0}
            for shape in ((16, 16, 3, 3), (7, 5, 1, 1), (3, 5000)):
                gen = torch.Generator().manual_seed(bits * 7 + len(shape))
                scales = torch.exp(torch.rand(shape[0], generator=gen) * 6 - 4)
                w = torch.randn(shape, generator=gen) * scales.view(-1, *([1] * (len(shape) - 1)))
                w.view(shape[0], -1)[:, 0] *= 6  # an outlier per channel: clipped
                w = w.to(device)
                g = torch.randn(shape, generator=gen).to(device)
                res = {}
                for eng in ("torch", "triton"):
                    os.environ["N2UQ_WQ_ENGINE"] = eng
                    ww = w.clone().requires_grad_(True)
                    q = N2UQWeightQuant(bits)(ww)
                    q.backward(g)
                    res[eng] = (q.detach(), ww.grad)
                (qt, gt), (qk, gk) = res["torch"], res["triton"]
                alpha = channel_alpha(w, bits)
                n = 2**bits - 1
                v = (torch.clamp(w / alpha, -1, 1) + 1) * (n / 2)
                off_tie = ((v - v.floor()) - 0.5).abs() > 1e-4
                code_t = torch.round(qt / (alpha / n))  # the odd codes 2r - N
                code_k = torch.round(qk / (alpha / n))
                worst["code_mismatch_off_tie"] += int(((code_t != code_k) & off_tie).sum())
                worst["q_rel"] = max(worst["q_rel"], float(
                    ((qt - qk).abs() / alpha)[off_tie].max()))
                clear = ((w / alpha).abs() - 1).abs() > 1e-5
                worst["grad_rel"] = max(worst["grad_rel"], float(
                    ((gt - gk).abs() / gt.abs().clamp_min(1e-30))[clear].max()))
            worst["ok"] = (worst["code_mismatch_off_tie"] == 0 and worst["q_rel"] < 1e-5
                           and worst["grad_rel"] < 1e-5)
            out[bits] = worst
    finally:
        if previous is None:
            os.environ.pop("N2UQ_WQ_ENGINE", None)
        else:
            os.environ["N2UQ_WQ_ENGINE"] = previous
    return out
