"""Triton kernels for the N2UQ activation quantizer on CUDA (one pass each way).

Forward: per element, count the merged boundaries below ``u = beta1*x`` (the bin), write
``y = (bin // 2) * beta2 * D`` and the bin as one byte. Backward: per element
``dL/dx = g * xtab[bin]``, and per block the sums of ``g``, ``g*x`` and
``g*(u - lotab[bin])`` for every bin, reduced over blocks afterwards; no atomics, no
full-size temporaries. Scalars stay on the device (no host synchronisation).
Used for bit widths up to 4 (at most 31 boundaries); tested in Triton's interpreter.
"""

from __future__ import annotations

import torch

try:  # Triton is optional: CPU installs do without it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None

BLOCK = 1024


def available() -> bool:
    """True when Triton can be imported."""
    return triton is not None


if triton is not None:

    @triton.jit
    def _fwd_kernel(x_ptr, bnd_ptr, par_ptr, y_ptr, idx_ptr, n,
                    NB: tl.constexpr, BLOCK_SIZE: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        u = x * tl.load(par_ptr)
        idx = tl.zeros([BLOCK_SIZE], dtype=tl.int32)
        for b in tl.static_range(NB):
            idx += (u > tl.load(bnd_ptr + b)).to(tl.int32)
        y = (idx // 2).to(tl.float32) * tl.load(par_ptr + 1)
        tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)
        tl.store(idx_ptr + offs, idx.to(tl.uint8), mask=mask)

    @triton.jit
    def _bwd_kernel(g_ptr, x_ptr, idx_ptr, tab_ptr, gx_ptr, part_ptr, n,
                    NBIN: tl.constexpr, BLOCK_SIZE: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        idx = tl.load(idx_ptr + offs, mask=mask, other=0).to(tl.int32)
        beta1 = tl.load(tab_ptr + 2 * NBIN)
        slope = tl.load(tab_ptr + idx, mask=mask, other=0.0)
        lower = tl.load(tab_ptr + NBIN + idx, mask=mask, other=0.0)
        tl.store(gx_ptr + offs, (g * slope).to(gx_ptr.dtype.element_ty), mask=mask)
        gxx = g * x
        gr = g * (x * beta1 - lower)
        base = part_ptr + pid * 3 * NBIN
        for b in tl.static_range(1, NBIN):
            sel = idx == b
            tl.store(base + b, tl.sum(tl.where(sel, g, 0.0), axis=0))
            tl.store(base + NBIN + b, tl.sum(tl.where(sel, gxx, 0.0), axis=0))
            tl.store(base + 2 * NBIN + b, tl.sum(tl.where(sel, gr, 0.0), axis=0))


def forward(x: torch.Tensor, bounds: torch.Tensor, beta1: torch.Tensor,
            ystep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, bin)`` for a contiguous ``x``; ``bounds`` has 2N+1 entries."""
    n = x.numel()
    y = torch.empty_like(x)
    idx = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
    par = torch.stack([beta1.reshape(()), ystep.reshape(())]).float()
    grid = (triton.cdiv(n, BLOCK),)
    _fwd_kernel[grid](x, bounds.float().contiguous(), par, y, idx, n,
                      NB=bounds.numel(), BLOCK_SIZE=BLOCK)
    return y, idx


def backward(g: torch.Tensor, x: torch.Tensor, idx: torch.Tensor, xtab: torch.Tensor,
             lotab: torch.Tensor, beta1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dL/dx, sums)`` where ``sums`` is (3, 2N+2): per-bin sums of g, g*x, g*(u-d_{j-1})."""
    n = x.numel()
    nbin = xtab.numel()
    tab = torch.cat([xtab.float(), lotab.float(), beta1.reshape(1).float()])
    grad_x = torch.empty_like(g)
    blocks = triton.cdiv(n, BLOCK)
    part = torch.zeros(blocks, 3, nbin, dtype=torch.float32, device=x.device)
    _bwd_kernel[(blocks,)](g, x, idx, tab, grad_x, part, n, NBIN=nbin, BLOCK_SIZE=BLOCK)
    return grad_x, part.sum(0, dtype=torch.float64)


def compare_engines(device: torch.device | str, shape: tuple[int, ...] = (64, 32, 16, 16)) -> dict:
    """Run the torch and Triton paths on the same random data at 2, 3 and 4 bits.

    Returns per bit width whether outputs and ``dL/dx`` are identical and the largest
    relative difference of the parameter gradients (which differ only by summation order).
    """
    import os

    from n2uq_hw.quant.activation import N2UQActQuant

    device = torch.device(device)
    previous = os.environ.get("N2UQ_LTQ_ENGINE")
    out = {}
    try:
        for bits in (2, 3, 4):
            gen = torch.Generator().manual_seed(bits)
            q = N2UQActQuant(bits).to(device)
            with torch.no_grad():
                q.s.fill_(-0.2)
                q.a.copy_(torch.rand(q.a.shape, generator=gen) * 0.9 + 0.0005)
                q.beta1.fill_(1.3)
                q.beta2.fill_(0.7)
            x = (torch.randn(shape, generator=gen) * 2).to(device)
            g = torch.randn(shape, generator=gen).to(device)
            res = {}
            for engine in ("torch", "triton"):
                os.environ["N2UQ_LTQ_ENGINE"] = engine
                q.zero_grad()
                xx = x.clone().requires_grad_(True)
                (q(xx) * g).sum().backward()
                res[engine] = [q(x).detach(), xx.grad] + [
                    p.grad.clone() for p in (q.s, q.a, q.beta1, q.beta2)]
            t, k = res["torch"], res["triton"]
            rel = max(float((u - v).abs().max() / u.abs().max().clamp_min(1e-12))
                      for u, v in zip(t[2:], k[2:]))
            same = bool(torch.equal(t[0], k[0]) and torch.equal(t[1], k[1]))
            out[bits] = {"outputs_and_grad_x_identical": same, "param_grad_rel": rel,
                         "ok": same and rel < 1e-4}
    finally:
        if previous is None:
            os.environ.pop("N2UQ_LTQ_ENGINE", None)
        else:
            os.environ["N2UQ_LTQ_ENGINE"] = previous
    return out
