"""Memory image: where every tensor, weight stream and parameter table lives in the
engine's external memory, and their bytes.

Memory is a little-endian array of ``mem_bits``-bit words; every region starts on a word.
- Elements never straddle a word: a word holds ``E = mem_bits // bits`` elements, element
  ``c`` of a row in word ``c // E`` at bit ``(c % E) * bits`` (two's complement for signed
  kinds), so the fetch unit reads each element from one word. Only an element wider than
  a word (a network's final accumulators on a narrow port, never a layer input) takes
  ``ceil(bits / mem_bits)`` whole words, least significant first.
- Tensor elements are stored in :func:`storage_bits` (the next power of two: a 12-bit
  value takes 16, sign-extended), so a word holds a power-of-two number of them and an
  output-channel group of a power-of-two ``PE`` fills whole words or whole bytes.
- Tensors (``[C, H, W]`` or ``[C]``) are pixel-major, channels innermost: pixel ``(y, x)``
  occupies ``ceil(C / E)`` words.
- Conv weights are the stream the array consumes: for each output-channel group ``g``
  (``PE`` channels), window chunk ``kc`` (rtl_gen/compile/chunks.py) and weight digit
  ``e``, one block of ``PE x SIMD`` unsigned ``w_bits`` digits, lane ``(p, j)`` as element
  ``p * SIMD + j``; idle lanes and channels beyond ``O`` are 0.
- Parameter tables: per output channel (padded to a multiple of ``PE``) the layer's fields
  (``program.json`` ``param_fields``) as int64 words, channel-major.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from n2uq_hw.ir.graph import TensorType


def storage_bits(bits: int) -> int:
    """Bits a tensor element of ``bits`` bits occupies in memory: the next power of two."""
    return 1 << (bits - 1).bit_length()


def per_word(bits: int, word_bits: int) -> int:
    """Elements of ``bits`` bits per word: they never straddle a word boundary."""
    if not 1 <= bits <= word_bits:
        raise ValueError(f"{bits}-bit elements do not fit {word_bits}-bit words")
    return word_bits // bits


def row_words(n: int, bits: int, word_bits: int) -> int:
    """Words a row of ``n`` elements occupies (an element wider than a word takes
    ``ceil(bits / word_bits)`` whole words, e.g. a network's wide final accumulators)."""
    if bits > word_bits:
        return n * -(-bits // word_bits)
    return -(-n // per_word(bits, word_bits))


def _positions(n: int, bits: int, word_bits: int) -> np.ndarray:
    """Bit position of every element of a row: element ``c`` in word ``c // per_word`` at
    bit ``(c % per_word) * bits``."""
    c = np.arange(n)
    if bits > word_bits:
        return c * -(-bits // word_bits) * word_bits
    epw = per_word(bits, word_bits)
    return (c // epw) * word_bits + (c % epw) * bits


def pack(values: np.ndarray, bits: int, row_words: int, word_bits: int) -> bytes:
    """Pack rows of ``values`` (``[R, N]`` ints, two's complement kept to ``bits``) into
    ``row_words`` words each (no element straddles a word)."""
    v = np.asarray(values, dtype=np.int64)
    rows, n = v.shape
    u = (v & ((1 << bits) - 1)).astype(np.uint64) if bits < 64 else v.view(np.uint64)
    bitarr = ((u[:, :, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    flat = np.zeros((rows, row_words * word_bits), np.uint8)
    cols = _positions(n, bits, word_bits)[:, None] + np.arange(bits)
    flat[:, cols.reshape(-1)] = bitarr.reshape(rows, n * bits)
    return np.packbits(flat, axis=1, bitorder="little").tobytes()


def unpack(buf: bytes, rows: int, n: int, bits: int, row_words: int, word_bits: int,
           signed: bool) -> np.ndarray:
    """Inverse of :func:`pack`."""
    raw = np.frombuffer(buf, np.uint8).reshape(rows, row_words * word_bits // 8)
    cols = _positions(n, bits, word_bits)[:, None] + np.arange(bits)
    b = np.unpackbits(raw, axis=1, bitorder="little")[:, cols.reshape(-1)].reshape(rows, n, bits)
    v = (b.astype(np.int64) << np.arange(bits, dtype=np.int64)).sum(2)
    if signed:
        v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
    return v


@dataclass
class Region:
    name: str
    kind: str  # "tensor" | "weights" | "params"
    offset: int  # bytes
    size: int  # bytes
    info: dict = field(default_factory=dict)


@dataclass
class MemoryImage:
    word_bits: int
    regions: dict[str, Region] = field(default_factory=dict)
    chunks: list[tuple[int, bytes]] = field(default_factory=list)
    end: int = 0

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    def alloc(self, name: str, kind: str, size: int, data: bytes | None = None,
              **info) -> Region:
        size = math.ceil(size / self.word_bytes) * self.word_bytes
        r = Region(name, kind, self.end, size, info)
        self.regions[name] = r
        self.end += size
        if data is not None:
            self.chunks.append((r.offset, data))
        return r

    def tensor_layout(self, t: TensorType) -> tuple[int, int]:
        """(pixels, words per pixel) of a tensor of type ``t``."""
        c = t.shape[0]
        pixels = int(np.prod(t.shape[1:])) if len(t.shape) > 1 else 1
        return pixels, row_words(c, storage_bits(t.bits), self.word_bits)

    def alloc_tensor(self, name: str, t: TensorType) -> Region:
        pixels, words = self.tensor_layout(t)
        return self.alloc(name, "tensor", pixels * words * self.word_bytes,
                          shape=list(t.shape), bits=t.bits, storage_bits=storage_bits(t.bits),
                          signed=t.signed, kind_of=t.kind,
                          words_per_pixel=words)

    def tensor_bytes(self, t: TensorType, value: np.ndarray) -> bytes:
        """``value`` ``[C, H, W]`` (or ``[C]``) in this image's tensor layout."""
        pixels, words = self.tensor_layout(t)
        rows = value.reshape(t.shape[0], pixels).T
        return pack(rows, storage_bits(t.bits), words, self.word_bits)

    def read_tensor(self, blob: bytes, name: str, t: TensorType) -> np.ndarray:
        r = self.regions[name]
        pixels, words = self.tensor_layout(t)
        rows = unpack(blob[r.offset: r.offset + r.size], pixels, t.shape[0],
                      storage_bits(t.bits), words,
                      self.word_bits, t.signed)
        return rows.T.reshape(t.shape)

    def to_bytes(self) -> bytes:
        buf = bytearray(self.end)
        for off, data in self.chunks:
            buf[off: off + len(data)] = data
        return bytes(buf)
