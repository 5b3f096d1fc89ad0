"""The beat schedule of a conv layer: what the controller feeds the datapath, cycle by cycle.

Loop nest (docs/ARCHITECTURE.md "The engine"): ``for og (PE output channels): for (oy, ox):
for d (activation digit): for e (weight digit): for kc (SIMD chunk of the (ky, kx, ci)-
flattened window)``. Each beat holds SIMD activation digits, the PE x SIMD weight digits,
``first``/``last`` of the dot product, ``corr`` (``e = 0``) and the shifts
``dot_shift = a d + w e + log2 s``, ``x_shift = a d``. This generator is the executable
specification the RTL controller and address generators implement; the datapath tests
drive it directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rtl_gen.compile.operands import OperandPlan


@dataclass
class Beat:
    og: int
    pixel: int
    x: np.ndarray  # [SIMD] activation digits
    w: np.ndarray  # [PE, SIMD] weight digits
    first: bool
    last: bool
    corr: bool
    dot_shift: int
    x_shift: int


def windows(plan: OperandPlan, x: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    """``xu`` of every output pixel's window, ``[OH * OW, k * k * I]`` in (ky, kx, ci) order
    (padding reads ``ox``); ``x`` is one sample ``[I, H, W]``."""
    xu = (x.astype(np.int64) << plan.input_shift) + plan.in_offset[:, None, None]
    xu = np.pad(xu, ((0, 0), (p, p), (p, p)), constant_values=plan.ox)
    i, hp, wp = xu.shape
    oh, ow = (hp - k) // s + 1, (wp - k) // s + 1
    out = np.empty((oh * ow, k * k * i), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            win = xu[:, oy * s: oy * s + k, ox * s: ox * s + k]  # [I, k, k]
            out[oy * ow + ox] = win.transpose(1, 2, 0).reshape(-1)
    return out


def beats(plan: OperandPlan, x: np.ndarray, k: int, s: int, p: int, pe: int, simd: int,
          a_bits: int, w_bits: int) -> Iterator[Beat]:
    """Every beat of one conv layer on one sample, in issue order."""
    win = windows(plan, x, k, s, p)
    o = plan.wu.shape[0]
    kk = win.shape[1]
    wu = plan.wu.transpose(0, 2, 3, 1).reshape(o, kk)
    groups, kc_n = math.ceil(o / pe), math.ceil(kk / simd)
    win_p = np.zeros((win.shape[0], kc_n * simd), np.int64)
    win_p[:, :kk] = win
    wu_p = np.zeros((groups * pe, kc_n * simd), np.int64)
    wu_p[:o, :kk] = wu
    amask, wmask = 2**a_bits - 1, 2**w_bits - 1
    n_inner = plan.x_digits * plan.w_digits * kc_n
    for og in range(groups):
        wg = wu_p[og * pe: (og + 1) * pe]
        for pix in range(win.shape[0]):
            t = 0
            for d in range(plan.x_digits):
                xd = (win_p[pix] >> (a_bits * d)) & amask
                for e in range(plan.w_digits):
                    we = (wg >> (w_bits * e)) & wmask
                    for kc in range(kc_n):
                        sl = slice(kc * simd, (kc + 1) * simd)
                        yield Beat(og, pix, xd[sl], we[:, sl], t == 0, t == n_inner - 1,
                                   e == 0, a_bits * d + w_bits * e + plan.w_scale_log2,
                                   a_bits * d)
                        t += 1
