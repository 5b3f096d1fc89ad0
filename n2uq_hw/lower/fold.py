"""Exact folding of float chains into integer constants (thresholds, requantisation).

Everything is solved in float64 from the float model's parameters, then checked against
the float64 chain at the integer boundary points, so an integer threshold is the exact
first integer input whose chain value crosses the quantizer threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEVER_BREAK = -(2**62)  # breakpoint of a monotone channel in a two-sided threshold node


@dataclass
class Chain:
    """Per-channel map from an integer ``v`` to the quantizer input ``u``:

    ``z = g*v + h + b1``; ``r = z if z >= 0 else a*z``; ``u = beta1 * (r + b2)``.
    ``g > 0`` (lowering negates weights for a negative ``g``); arrays are ``[C]``.
    """

    g: np.ndarray
    h: np.ndarray
    b1: np.ndarray
    a: np.ndarray
    b2: np.ndarray
    beta1: float

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """``u`` for integer inputs ``v`` of shape ``[C, ...]`` (float64)."""
        shape = (-1,) + (1,) * (v.ndim - 1)
        z = self.g.reshape(shape) * v + (self.h + self.b1).reshape(shape)
        r = np.where(z >= 0, z, self.a.reshape(shape) * z)
        return self.beta1 * (r + self.b2.reshape(shape))


@dataclass
class Thresholds:
    pos: np.ndarray  # [C, N] int64, non-decreasing rows
    neg: np.ndarray | None  # [C, N] int64, non-increasing rows (two-sided only)
    breakpoint: np.ndarray | None  # [C] int64


def _codes(chain: Chain, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Float64 codes of the chain at integer points ``v`` ([C, M]): ``#{i : u > t_i}``."""
    u = chain(v.astype(np.float64))
    return (u[..., None] > t).sum(-1)


def solve_thresholds(chain: Chain, t: np.ndarray, vmin: np.ndarray, vmax: np.ndarray) -> Thresholds:
    """Integer thresholds reproducing ``#{i : u(v) > t_i}`` for every integer ``v`` in
    ``[vmin_c, vmax_c]``. One-sided when every PReLU slope is positive, else two-sided with
    the breakpoint at the first ``v`` where ``z >= 0``."""
    if chain.beta1 <= 0:
        raise ValueError("quantizer beta1 <= 0 is not supported by the lowering")
    if np.any(chain.g < 0):
        raise ValueError("chain slope g must be >= 0 (negate the weights first)")
    _c, n = chain.g.shape[0], t.shape[0]
    rho = t / chain.beta1 - chain.b2[:, None]  # PReLU(z) > rho_i
    g = np.where(chain.g > 0, chain.g, 1.0)[:, None]
    off = (chain.h + chain.b1)[:, None]
    a = chain.a[:, None]
    lo, hi = vmin[:, None].astype(np.float64), vmax[:, None].astype(np.float64)
    two_sided = bool(np.any(chain.a <= 0))
    # positive side: z > theta with theta = rho (rho >= 0) or rho / a (rho < 0, a > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(rho >= 0, rho, np.where(a > 0, rho / a, -np.inf))
        pos = np.floor((theta - off) / g) + 1
        bp = np.ceil(-off[:, 0] / g[:, 0])
        neg = np.where(a < 0, np.ceil((rho / np.where(a < 0, a, -1.0) - off) / g) - 1,
                       np.where(rho < 0, np.inf, -np.inf))
    pos = np.clip(pos, lo, hi + 1)
    flat = chain.g == 0  # constant chain: codes are constant
    if np.any(flat):
        const = _codes(chain, t, vmin[:, None])[:, 0]
        fire = np.arange(n)[None, :] < const[:, None]
        pos[flat] = np.where(fire[flat], lo[flat], hi[flat] + 1)
    if two_sided:
        bp = np.where(flat | (chain.a > 0), NEVER_BREAK, np.clip(bp, vmin, vmax + 1))
        side = bp[:, None]
        neg = np.clip(neg, lo - 1, np.minimum(side - 1, hi))
        pos = np.maximum(pos, np.where(side > NEVER_BREAK, side, lo))
        mono = (bp == NEVER_BREAK)[:, None]
        neg = np.where(mono, lo - 1, neg)
        res = Thresholds(pos.astype(np.int64), neg.astype(np.int64), bp.astype(np.int64))
    else:
        res = Thresholds(pos.astype(np.int64), None, None)
    _fix_up(chain, t, res, vmin, vmax)
    return res


def _fix_up(chain: Chain, t: np.ndarray, th: Thresholds, vmin: np.ndarray, vmax: np.ndarray) -> None:
    """Move each threshold by the float64 chain itself until it is the exact crossing point
    (the closed forms above can be off by one where float64 rounding meets an integer)."""
    _c, n = th.pos.shape
    for i in range(n):
        for _ in range(4):
            p = th.pos[:, i]
            start = th.breakpoint if th.breakpoint is not None else None
            lo_side = vmin if start is None else np.maximum(vmin, np.where(start > NEVER_BREAK, start, vmin))
            at = np.clip(p, lo_side, vmax)
            before = np.clip(p - 1, lo_side, vmax)
            u_at = chain(at.astype(np.float64)[:, None])[:, 0]
            u_before = chain(before.astype(np.float64)[:, None])[:, 0]
            up = (p <= vmax) & (p >= lo_side) & ~(u_at > t[i])  # threshold too low
            down = (p - 1 >= lo_side) & (p - 1 <= vmax) & (u_before > t[i])  # too high
            if not (up.any() or down.any()):
                break
            th.pos[:, i] += up.astype(np.int64) - down.astype(np.int64)
        else:
            raise ArithmeticError("threshold fix-up did not converge")
        if th.neg is not None:
            for _ in range(4):
                q = th.neg[:, i]
                top = np.where(th.breakpoint > NEVER_BREAK, th.breakpoint - 1, vmin - 1)
                at = np.clip(q, vmin, np.maximum(top, vmin))
                after = np.clip(q + 1, vmin, np.maximum(top, vmin))
                u_at = chain(at.astype(np.float64)[:, None])[:, 0]
                u_after = chain(after.astype(np.float64)[:, None])[:, 0]
                live = top >= vmin
                grow = live & (q + 1 <= top) & (q + 1 >= vmin) & (u_after > t[i])
                shrink = live & (q >= vmin) & (q <= top) & ~(u_at > t[i])
                if not (grow.any() or shrink.any()):
                    break
                th.neg[:, i] += grow.astype(np.int64) - shrink.astype(np.int64)
            else:
                raise ArithmeticError("threshold fix-up did not converge")


def requant_constants(g: np.ndarray, h: np.ndarray, frac: int, mult_bits: int = 16,
                      vmax_abs: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """``(multiplier, bias, shift)`` with ``floor((v*M + B) / 2^S) ~= round((g v + h) 2^frac)``.

    ``|M| < 2^(mult_bits-1)`` and ``|M| * vmax_abs + |B| < 2^61`` (exact in int64); the
    shift is the largest that keeps both (at most 40).
    """
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    if gmax == 0:
        shift = 1
    else:
        shift = math.floor(math.log2((2 ** (mult_bits - 1) - 1) / gmax)) - frac
        shift = max(1, min(40, shift))
        def too_big(sh: int) -> bool:
            m = np.abs(np.round(g * 2.0 ** (frac + sh)))
            b = np.abs(np.round(h * 2.0 ** (frac + sh))) + 2.0**sh
            return bool(np.max(m) >= 2 ** (mult_bits - 1) or
                        np.max(m * float(vmax_abs) + b) >= 2.0**61)

        while shift > 0 and too_big(shift):
            shift -= 1
        if shift < 0:
            raise ValueError("requantisation scale too large for the multiplier width")
    mult = np.round(g * 2.0 ** (frac + shift)).astype(np.int64)
    bias = np.round(h * 2.0 ** (frac + shift)).astype(np.int64)
    if shift > 0:
        bias = bias + 2 ** (shift - 1)
    return mult, bias, shift


def choose_frac(maxabs: float, bits: int, headroom: float) -> int:
    """Fractional bits so that ``maxabs * headroom`` fits a signed ``bits``-bit value."""
    if not math.isfinite(maxabs):
        raise ValueError("calibration produced a non-finite value")
    if maxabs <= 0:
        return bits - 1
    return int(max(0, min(bits + 8, bits - 1 - math.ceil(math.log2(maxabs * headroom)))))


def int_per_channel(w: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel integer weights: ``w ~= q * scale[o]``,
    ``|q| <= 2^(bits-1) - 1``."""
    lim = 2 ** (bits - 1) - 1
    flat = w.reshape(w.shape[0], -1)
    scale = np.abs(flat).max(1) / lim
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.round(flat / scale[:, None]), -lim, lim)
    dtype = np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32
    return q.astype(dtype).reshape(w.shape), scale


def int8_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 weights: ``w ~= q * scale[o]`` with ``|q| <= 127``."""
    return int_per_channel(w, 8)


def acc_bound(weight: np.ndarray, xmax_abs: np.ndarray | float) -> int:
    """Worst-case ``|acc|``: ``max_o sum |w[o, i, ...]| * max|x'_i|``."""
    w = np.abs(weight.astype(np.int64))
    xm = np.broadcast_to(np.asarray(xmax_abs, dtype=np.int64), (w.shape[1],))
    per = (w.reshape(w.shape[0], w.shape[1], -1).sum(-1) * xm[None, :]).sum(1)
    return int(per.max()) if per.size else 0


def acc_range(weight: np.ndarray, xmin: np.ndarray | int, xmax: np.ndarray | int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel exact min and max of ``sum w * x`` for ``x_i in [xmin_i, xmax_i]``."""
    w = weight.astype(np.int64).reshape(weight.shape[0], weight.shape[1], -1)
    lo = np.broadcast_to(np.asarray(xmin, dtype=np.int64), (w.shape[1],))[None, :, None]
    hi = np.broadcast_to(np.asarray(xmax, dtype=np.int64), (w.shape[1],))[None, :, None]
    mn = np.where(w > 0, w * lo, w * hi).sum((1, 2))
    mx = np.where(w > 0, w * hi, w * lo).sum((1, 2))
    return mn, mx
