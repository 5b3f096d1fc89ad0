"""The activation fetch contract: which memory words a chunk reads and where their bits go.

For output pixel ``(oy, ox)`` and window chunk ``ch`` (rtl_gen/compile/chunks.py) the fetch
unit issues one *segment* per memory word it needs: ``(word, lane0, count, bit0)`` places
``count`` consecutive channel elements, starting at bit ``bit0`` of tensor word ``word``
(relative to the tensor's base), into lanes ``lane0 ..``. A window position outside the
image yields a *pad segment* (``word = -1``): its lanes take the per-channel pad value
``ox[c]``. Lanes then get ``xu = (x << input_shift) + in_offset`` (not for pad lanes).
This is the executable specification of the RTL fetch unit; ``assemble`` rebuilds the
lanes from a memory image and must equal the schedule's (tests/test_rtl_fetch.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rtl_gen.compile.chunks import Chunk, lane_terms
from rtl_gen.compile.image import per_word


@dataclass(frozen=True)
class Segment:
    word: int  # word index from the tensor base, -1 for padding
    lane0: int
    count: int
    bit0: int  # first element's bit in the word (0 for padding)
    c0: int  # channel of the first element (pad values and offsets are per channel)


def segments(ch: Chunk, oy: int, ox: int, *, cin: int, k: int, stride: int, pad: int,
             h: int, w: int, bits: int, words_per_pixel: int, mem_bits: int
             ) -> Iterator[Segment]:
    """The segments of chunk ``ch`` for output pixel ``(oy, ox)``, in lane order."""
    ky, kx, ci = lane_terms(ch, cin, k)
    lane = 0
    while lane < ch.n:
        y, x = oy * stride + int(ky[lane]) - pad, ox * stride + int(kx[lane]) - pad
        # the run of lanes at this window position
        end = lane
        while end < ch.n and ky[end] == ky[lane] and kx[end] == kx[lane]:
            end += 1
        c_first = int(ci[lane])
        if not (0 <= y < h and 0 <= x < w):
            yield Segment(-1, lane, end - lane, 0, c_first)
            lane = end
            continue
        base = (y * w + x) * words_per_pixel
        epw = per_word(bits, mem_bits)
        while lane < end:
            c = int(ci[lane])
            fit = min(end - lane, epw - c % epw)
            yield Segment(base + c // epw, lane, fit, (c % epw) * bits, c)
            lane += fit


def assemble(segs: list[Segment], words: list[int], *, simd: int, bits: int, signed: bool,
             ox: np.ndarray, input_shift: int, in_offset: int) -> np.ndarray:
    """The SIMD lanes ``xu`` a fetch unit builds from ``segs`` over tensor ``words``
    (Python ints, ``mem_bits`` each); idle lanes are 0."""
    lanes = np.zeros(simd, np.int64)
    mask = (1 << bits) - 1
    for s in segs:
        for i in range(s.count):
            c = s.c0 + i
            if s.word < 0:
                lanes[s.lane0 + i] = ox[c]
                continue
            v = (int(words[s.word]) >> (s.bit0 + i * bits)) & mask
            if signed and v >> (bits - 1):
                v -= 1 << bits
            lanes[s.lane0 + i] = (v << input_shift) + in_offset
    return lanes
