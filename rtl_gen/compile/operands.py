"""How a conv2d/linear node's operands map onto the unsigned low-bit MAC array.

The array multiplies unsigned ``a``-bit activation digits by unsigned ``w``-bit weight
digits. Every IR operand is brought to that form with an offset and a digit split:

- activations: the fetch unit forms ``xu = (x << k) + in_offset`` with ``x' = xu - ox[c]``
  the IR's conv input: codes ``in_offset = ox = 0``; fixed point and accumulators
  ``in_offset = ox = 2^(W-1)`` (the sign bit flipped); the image ``in_offset = 0``,
  ``ox[c] = zp[c]`` (``x' = x * 2^k - zp[c]``, so ``xu`` is the plain shifted pixel and needs
  no extra bit). Padded positions read ``xu = ox[c]`` (``x' = 0``): no border correction.
- weights: ``w = s * wu - ow`` (odd N2UQ codes ``m = 2u - N``: ``s = 2, ow = N``;
  two's-complement ``B``-bit weights: ``s = 1, ow = 2^(B-1)``).
- ``sum w x' = s sum wu xu - ow sum xu + C[o]`` with the per-channel constant
  ``C[o] = ow k^2 sum_c ox[c] - s sum_{c,ky,kx} wu[o,c,ky,kx] ox[c]``; ``sum wu xu`` splits into
  digit pairs ``sum_{d,e} 2^(a d + w e) sum wu_e xu_d`` and ``sum xu`` into
  ``sum_d 2^(a d) sum xu_d``.

So per beat the accumulator adds ``dot << (a d + w e + log2 s)`` and, on ``e = 0`` beats,
subtracts ``(ow * xsum) << (a d)``; it starts at ``C[o]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import Node, TensorType


@dataclass(frozen=True)
class OperandPlan:
    """Digit decomposition of one conv2d/linear node for an ``a``/``w``-bit array."""

    x_bits: int  # width of xu
    x_digits: int
    in_offset: int  # added to x << input_shift by the fetch unit
    ox: np.ndarray  # [I] xu of x' = 0: the padding value per input channel
    input_shift: int
    w_bits: int  # width of wu
    w_digits: int
    w_scale_log2: int  # s = 2^w_scale_log2
    ow: int
    wu: np.ndarray  # [O, I, k, k] (linear: [O, I, 1, 1]) unsigned weights
    const: np.ndarray  # [O] int64: C[o]
    acc_bound: int  # worst |partial sum| of the digit-serial accumulation

    @property
    def passes(self) -> int:
        return self.x_digits * self.w_digits

    @property
    def acc_bits(self) -> int:
        return self.acc_bound.bit_length() + 1


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_operands(node: Node, x: TensorType, weight: np.ndarray, a_bits: int,
                  w_bits: int) -> OperandPlan:
    """The OperandPlan of ``node`` (conv2d or linear) reading a tensor of type ``x``."""
    w = weight.astype(np.int64)
    if w.ndim == 2:
        w = w[:, :, None, None]
    i = w.shape[1]
    shift = int(node.attrs.get("input_shift", 0))
    zp = node.arrays.get("zero_point")
    zp = np.zeros(i, np.int64) if zp is None else zp.astype(np.int64)
    if x.kind == "image":
        off, ox = 0, zp
        if (zp < 0).any() or (zp > 255 * 2**shift).any():
            fail(f"{node.name}: zero points outside the shifted pixel range are not supported")
        xbits = (255 * 2**shift).bit_length()
    elif zp.any() or shift:
        fail(f"{node.name}: zero point / input shift on a {x.kind} input is not supported")
    elif x.kind == "code":
        off, ox, xbits = 0, np.zeros(i, np.int64), x.bits
    elif x.kind in ("fixed", "acc"):
        off, xbits = 2 ** (x.bits - 1), x.bits
        ox = np.full(i, off, np.int64)
    else:
        fail(f"{node.name}: unsupported input kind {x.kind!r}")
    fmt, b = node.attrs["weight_format"], int(node.attrs["weight_bits"])
    if fmt == "odd":
        n = 2**b - 1
        wu, s_log2, ow, wbits = (w + n) // 2, 1, n, b
    else:
        ow = 2 ** (b - 1)
        wu, s_log2, wbits = w + ow, 0, b
    if (wu < 0).any() or (wu >= 2**wbits).any():
        fail(f"{node.name}: weights outside their declared {fmt} range")
    kk = w.shape[2] * w.shape[3]
    const = ow * kk * int(ox.sum()) - (2**s_log2) * (wu.sum((2, 3)) * ox[None, :]).sum(1)
    xmax, wmax = 2**xbits - 1, 2**wbits - 1
    k_terms = i * kk
    # partial sums lie between C - ow K xmax and C + s K wmax xmax whatever the digit order
    bound = int(np.abs(const).max(initial=0)) + k_terms * xmax * max(2**s_log2 * wmax, ow)
    return OperandPlan(x_bits=xbits, x_digits=_ceil_div(xbits, a_bits), in_offset=off, ox=ox,
                       input_shift=shift, w_bits=wbits, w_digits=_ceil_div(wbits, w_bits),
                       w_scale_log2=s_log2, ow=ow, wu=wu, const=const.astype(np.int64),
                       acc_bound=bound)
