"""The beat schedule of a conv layer: what the controller feeds the datapath, cycle by cycle.

Loop nest (docs/ARCHITECTURE.md "The engine"): ``for og (PE output channels): for (oy, ox):
for kc (window chunk, rtl_gen/compile/chunks.py): for d (activation digit): for e (weight
digit)``. Each beat holds SIMD activation digits, the PE x SIMD weight digits,
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

from rtl_gen.compile.chunks import chunks, lane_terms
from rtl_gen.compile.emit import weight_blocks
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


def padded_input(plan: OperandPlan, x: np.ndarray, p: int) -> np.ndarray:
    """``xu`` of one sample ``[I, H, W]`` with ``p`` pixels of padding reading ``ox[c]``."""
    xu = (x.astype(np.int64) << plan.input_shift) + plan.in_offset
    out = np.broadcast_to(plan.ox[:, None, None], (xu.shape[0], xu.shape[1] + 2 * p,
                                                   xu.shape[2] + 2 * p)).copy()
    out[:, p: p + xu.shape[1], p: p + xu.shape[2]] = xu
    return out


def beats(plan: OperandPlan, x: np.ndarray, k: int, s: int, p: int, pe: int, simd: int,
          a_bits: int, w_bits: int) -> Iterator[Beat]:
    """Every beat of one conv layer on one sample, in issue order."""
    xu = padded_input(plan, x, p)
    i, hp, wp = xu.shape
    o = plan.wu.shape[0]
    oh, ow = (hp - k) // s + 1, (wp - k) // s + 1
    chs = chunks(i, k, simd)
    wb = weight_blocks(plan, {"O": o, "I": i, "k": k}, pe, simd, w_bits)
    amask = 2**a_bits - 1
    n_inner = len(chs) * plan.x_digits * plan.w_digits
    for og in range(math.ceil(o / pe)):
        for pix in range(oh * ow):
            oy, ox = divmod(pix, ow)
            t = 0
            for kc, ch in enumerate(chs):
                lanes = np.zeros(simd, np.int64)
                ky, kx, ci = lane_terms(ch, i, k)
                lanes[: ch.n] = xu[ci, oy * s + ky, ox * s + kx]
                for d in range(plan.x_digits):
                    xd = (lanes >> (a_bits * d)) & amask
                    for e in range(plan.w_digits):
                        yield Beat(og, pix, xd, wb[og, kc, e], t == 0, t == n_inner - 1,
                                   e == 0, a_bits * d + w_bits * e + plan.w_scale_log2,
                                   a_bits * d)
                        t += 1
