"""How a convolution window is cut into SIMD-lane chunks.

The window is flattened in ``(ky, kx, ci)`` order (channels innermost, like the tensors in
memory, rtl_gen/compile/image.py), and a chunk is a run of at most SIMD consecutive terms:

- ``Cin >= SIMD`` (at SIMD 32 every ResNet-18 layer but the stem): runs never cross a window
  position,
  so a chunk is a slice of one pixel's channels, fetched as ``ceil(SIMD bits / mem_bits)``
  words: ``k * k * ceil(Cin / SIMD)`` chunks.
- ``Cin < SIMD`` (the 3-channel first conv): runs fill all SIMD lanes across window
  positions (the 7x7x3 stem at SIMD 32: 5 chunks, 147 of 160 lanes busy); a chunk then
  touches up to ``ceil(SIMD / Cin) + 1`` pixels, one word read each, which its digit passes
  (16 for an 8-bit stem on a 2-bit array) hide.

A chunk's fetch overlaps the previous chunk's beats, so it costs
``max(digit passes, words read)`` cycles (rtl_gen/compile/perf.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chunk:
    t0: int  # first term in (ky, kx, ci) order
    n: int  # lanes used


def chunks(cin: int, k: int, simd: int) -> list[Chunk]:
    """The chunk sequence of a ``k x k`` window over ``cin`` channels (order of issue)."""
    total = k * k * cin
    if cin >= simd:
        return [Chunk(pos * cin + c0, min(simd, cin - c0))
                for pos in range(k * k) for c0 in range(0, cin, simd)]
    return [Chunk(t0, min(simd, total - t0)) for t0 in range(0, total, simd)]


def lane_terms(ch: Chunk, cin: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ky, kx, ci)`` of each used lane."""
    t = ch.t0 + np.arange(ch.n)
    return t // (k * cin), (t // cin) % k, t % cin


def lane_index(ch: Chunk, cin: int, k: int, simd: int) -> np.ndarray:
    """For each lane, its index in the ``(ci, ky, kx)``-flattened window (the order of a
    ``[O, I, k, k]`` weight), or -1 for an idle lane."""
    ky, kx, ci = lane_terms(ch, cin, k)
    idx = np.full(simd, -1, np.int64)
    idx[: ch.n] = ci * k * k + ky * k + kx
    return idx


def fetch_words(ch: Chunk, cin: int, k: int, bits: int, mem_bits: int) -> int:
    """Memory words a chunk's activations occupy (pixels start on a word, channels packed
    ``mem_bits // bits`` per word, rtl_gen/compile/image.py)."""
    ky, kx, ci = lane_terms(ch, cin, k)
    epw = max(1, mem_bits // bits)
    words = 0
    for pos in np.unique(ky * k + kx):
        sel = ci[(ky * k + kx) == pos]
        words += int(sel.max()) // epw - int(sel.min()) // epw + 1
    return words


def chunk_cycles(cin: int, k: int, simd: int, bits: int, mem_bits: int, passes: int) -> int:
    """Array cycles of one output pixel: every chunk's ``max(passes, words fetched)``."""
    return sum(max(passes, fetch_words(c, cin, k, bits, mem_bits))
               for c in chunks(cin, k, simd))


def chunk_count(cin: int, k: int, simd: int) -> int:
    if cin >= simd:
        return k * k * math.ceil(cin / simd)
    return math.ceil(k * k * cin / simd)
