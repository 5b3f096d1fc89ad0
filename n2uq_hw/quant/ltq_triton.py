"""Triton kernels for the N2UQ activation quantizer on CUDA.

Two engines. ``triton`` (the default on CUDA) is fully fused: the forward kernel computes
the clamped lengths, edges and merged boundaries from the raw parameters and writes
``y = (bin // 2) * beta2 * D`` and the bin as one byte; the backward kernel writes
``dL/dx = g * slope[bin]`` and per block the per-bin sums of ``g``, ``g*x`` and
``g*(u - d_{j-1})``; after one float64 sum over the blocks, a one-program kernel writes the
closed-form parameter gradients. One launch forward, three backward (one of them torch's).
``triton_v1`` keeps the first version: the same element kernels, with the parameter-side
tensors (boundaries, tables, closed forms) built by ~40 small torch ops per quantizer.
No atomics, no full-size temporaries, no host synchronisation. Used for bit widths up to
4 (at most 31 boundaries); tested against the torch path in Triton's interpreter.
"""

from __future__ import annotations

import os

import torch

from n2uq_hw.quant.activation import A_MIN, N2UQActQuant, clamped_lengths, edges_and_thresholds

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



# ----------------------------------------------------------------------------- fused path
# The kernels below also compute the parameter-side math (clamped lengths, edges,
# thresholds, per-interval slopes, closed-form parameter gradients) from the raw
# parameters, so a quantizer costs one launch forward and two backward instead of one
# each plus ~40 small torch ops. The edges follow ``edges_and_thresholds`` exactly:
# ``d_i = s + float32(sum_{j<=i} â_j accumulated in float64)``, so the bins (and ``dL/dx``)
# are bit-identical to the torch path.

if triton is not None:

    @triton.jit
    def _fused_fwd_kernel(x_ptr, s_ptr, a_ptr, b1_ptr, b2_ptr, y_ptr, idx_ptr, n,
                          N: tl.constexpr, STEP: tl.constexpr, A_MIN: tl.constexpr,
                          BLOCK_SIZE: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        s = tl.load(s_ptr)
        u = x * tl.load(b1_ptr)
        run = s  # running maximum of [d_0, t_1, d_1, ..., t_N, d_N] (merged_boundaries)
        idx = (u > run).to(tl.int32)
        prev = s
        cum = tl.full([], 0.0, tl.float64)
        for i in tl.static_range(N):
            ai = tl.load(a_ptr + i)
            ah = tl.where(ai > A_MIN, ai, A_MIN)
            run = tl.maximum(run, prev + ah * 0.5)  # t_{i+1}
            idx += (u > run).to(tl.int32)
            cum = cum + ah.to(tl.float64)
            prev = s + cum.to(tl.float32)  # d_{i+1}
            run = tl.maximum(run, prev)
            idx += (u > run).to(tl.int32)
        y = (idx // 2).to(tl.float32) * (tl.load(b2_ptr) * STEP)
        tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)
        tl.store(idx_ptr + offs, idx.to(tl.uint8), mask=mask)

    @triton.jit
    def _fused_bwd_kernel(g_ptr, x_ptr, idx_ptr, s_ptr, a_ptr, b1_ptr, b2_ptr, gx_ptr,
                          part_ptr, n, nblocks, N: tl.constexpr, STEP: tl.constexpr,
                          A_MIN: tl.constexpr, BLOCK_SIZE: tl.constexpr):
        """``dL/dx`` and, per block, the per-bin sums of g, g*x and g*(u - d_{i-1}),
        stored as ``part[(quantity * NBIN + bin) * nblocks + block]``."""
        pid = tl.program_id(0)
        offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        idx = tl.load(idx_ptr + offs, mask=mask, other=0).to(tl.int32)
        s = tl.load(s_ptr)
        b1 = tl.load(b1_ptr)
        b2 = tl.load(b2_ptr)
        u = x * b1
        gxx = g * x
        slope = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
        nbin = 2 * N + 2
        lo = s  # d_{i-1}, the lower edge of interval i
        cum = tl.full([], 0.0, tl.float64)
        for i in tl.static_range(N):
            ai = tl.load(a_ptr + i)
            ah = tl.where(ai > A_MIN, ai, A_MIN)
            sl = tl.math.div_rn(b1 * b2 * STEP, ah)  # dy/dx inside the interval
            gr = g * (u - lo)
            for h in tl.static_range(2):
                sel = idx == 2 * i + 1 + h
                slope = tl.where(sel, sl, slope)
                row = part_ptr + (2 * i + 1 + h) * nblocks + pid
                tl.store(row, tl.sum(tl.where(sel, g, 0.0), axis=0))
                tl.store(row + nbin * nblocks, tl.sum(tl.where(sel, gxx, 0.0), axis=0))
                tl.store(row + 2 * nbin * nblocks, tl.sum(tl.where(sel, gr, 0.0), axis=0))
            cum = cum + ah.to(tl.float64)
            lo = s + cum.to(tl.float32)
        top = idx == 2 * N + 1  # above d_N: code N, only dL/dbeta2 sees it
        tl.store(part_ptr + (2 * N + 1) * nblocks + pid, tl.sum(tl.where(top, g, 0.0), axis=0))
        tl.store(gx_ptr + offs, (g * slope).to(gx_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _fused_grads_kernel(sums_ptr, a_ptr, b2_ptr, out_ptr, N: tl.constexpr,
                            STEP: tl.constexpr, A_MIN: tl.constexpr):
        """One program: the closed-form ``[ds, da_1..da_N, dbeta1, dbeta2]`` from the
        per-bin sums (float64, ``(3, 2N+2)``; ``grads_from_bins``) into ``out``."""
        nbin = 2 * N + 2
        b2 = tl.load(b2_ptr)
        later = tl.full([], 0.0, tl.float32)  # sum_{j>i} c_j G_j
        gb1 = tl.full([], 0.0, tl.float32)
        gb2 = tl.load(sums_ptr + 2 * N + 1).to(tl.float32) * N  # bin 2N+1 has code N
        for j in tl.static_range(N):
            i = N - 1 - j
            ai = tl.load(a_ptr + i)
            ah = tl.where(ai > A_MIN, ai, A_MIN)
            c = tl.math.div_rn(b2 * STEP, ah)
            g_lo = tl.load(sums_ptr + 2 * i + 1).to(tl.float32)
            g_hi = tl.load(sums_ptr + 2 * i + 2).to(tl.float32)
            xs = (tl.load(sums_ptr + nbin + 2 * i + 1).to(tl.float32)
                  + tl.load(sums_ptr + nbin + 2 * i + 2).to(tl.float32))
            rs = (tl.load(sums_ptr + 2 * nbin + 2 * i + 1).to(tl.float32)
                  + tl.load(sums_ptr + 2 * nbin + 2 * i + 2).to(tl.float32))
            ga = tl.math.div_rn(-c * rs, ah) - later
            tl.store(out_ptr + 1 + i, tl.where(ai > A_MIN, ga, 0.0))
            later += c * (g_lo + g_hi)
            gb1 += c * xs
            gb2 += g_lo * i + g_hi * (i + 1)  # bins 2i+1, 2i+2 have codes i, i+1
        tl.store(out_ptr, -later)
        tl.store(out_ptr + N + 1, gb1)
        tl.store(out_ptr + N + 2, gb2 * STEP)


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def fused_forward(x: torch.Tensor, s: torch.Tensor, a: torch.Tensor, beta1: torch.Tensor,
                  beta2: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, bin)`` for a contiguous ``x``, straight from the raw parameters (one launch)."""
    n, levels = x.numel(), 2**bits - 1
    y = torch.empty_like(x)
    idx = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
    _fused_fwd_kernel[(triton.cdiv(n, BLOCK),)](
        x, _f32(s), _f32(a), _f32(beta1), _f32(beta2), y, idx, n,
        N=levels, STEP=2.0 / levels, A_MIN=A_MIN, BLOCK_SIZE=BLOCK)
    return y, idx


def fused_backward(g: torch.Tensor, x: torch.Tensor, idx: torch.Tensor, s: torch.Tensor,
                   a: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor, bits: int):
    """``(dL/dx, ds, da, dbeta1, dbeta2)`` (parameter gradients in float32; two launches)."""
    n, levels = x.numel(), 2**bits - 1
    nbin = 2 * levels + 2
    blocks = triton.cdiv(n, BLOCK)
    grad_x = torch.empty_like(g)
    part = torch.empty(3 * nbin * blocks, dtype=torch.float32, device=x.device)
    out = torch.empty(levels + 3, dtype=torch.float32, device=x.device)
    a32, b2 = _f32(a), _f32(beta2)
    _fused_bwd_kernel[(blocks,)](g, x, idx, _f32(s), a32, _f32(beta1), b2, grad_x, part, n,
                                 blocks, N=levels, STEP=2.0 / levels, A_MIN=A_MIN,
                                 BLOCK_SIZE=BLOCK)
    # rows of bins the kernel does not write (bin 0; X and R of bin 2N+1) are never read
    sums = part.view(3 * nbin, blocks).sum(1, dtype=torch.float64)
    _fused_grads_kernel[(1,)](sums, a32, b2, out, N=levels, STEP=2.0 / levels, A_MIN=A_MIN)
    return grad_x, out[0], out[1 : levels + 1], out[levels + 1], out[levels + 2]


def compare_engines(device: torch.device | str, shape: tuple[int, ...] = (64, 32, 16, 16),
                    engine: str = "triton") -> dict:
    """Run the torch path and ``engine`` on the same random data at 2, 3 and 4 bits.

    Returns per bit width whether outputs and ``dL/dx`` are identical and the largest
    relative difference of the parameter gradients (which differ only by summation order).
    Some lengths are clamped and some inputs lie exactly on edges and thresholds.
    """
    device = torch.device(device)
    previous = os.environ.get("N2UQ_LTQ_ENGINE")
    out = {}
    try:
        for bits in (2, 3, 4):
            gen = torch.Generator().manual_seed(bits)
            q = N2UQActQuant(bits).to(device)
            with torch.no_grad():
                q.s.fill_(-0.2)
                a = torch.rand(q.a.shape, generator=gen) * 0.9 + 0.0005
                a[0] = -0.1  # clamped to 1e-3
                q.a.copy_(a)
                q.beta1.fill_(1.3)
                q.beta2.fill_(0.7)
            x = torch.randn(shape, generator=gen) * 2
            d, t = edges_and_thresholds(q.s.detach().cpu(), clamped_lengths(q.a.detach().cpu()))
            marks = torch.cat([d, t]) / 1.3
            flat = x.view(-1)
            flat[: marks.numel()] = marks  # on (or one rounding off) an edge or threshold
            x = x.to(device)
            g = torch.randn(shape, generator=gen).to(device)
            res = {}
            for eng in ("torch", engine):
                os.environ["N2UQ_LTQ_ENGINE"] = eng
                q.zero_grad()
                xx = x.clone().requires_grad_(True)
                (q(xx) * g).sum().backward()
                res[eng] = [q(x).detach(), xx.grad] + [
                    p.grad.clone() for p in (q.s, q.a, q.beta1, q.beta2)]
            t, k = res["torch"], res[engine]
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
