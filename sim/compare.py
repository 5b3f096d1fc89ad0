"""Element-by-element comparison of simulated tensors with the golden ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Mismatch:
    layer: int
    tensor: str
    index: tuple[int, ...]  # (channel, row, column) or (channel,)
    expected: int
    got: int

    def __str__(self) -> str:
        where = ", ".join(f"{k} {v}" for k, v in zip(("channel", "row", "column"), self.index,
                                                      strict=False))
        return (f"layer {self.layer} {self.tensor}: {where}: expected {self.expected}, "
                f"got {self.got}")


@dataclass
class Comparison:
    elements: int = 0
    tensors: int = 0
    mismatches: int = 0
    first: list[Mismatch] = field(default_factory=list)  # the first few, in layer order

    @property
    def first_layer(self) -> int | None:
        return self.first[0].layer if self.first else None


def compare(results: list[tuple[int, str, np.ndarray, np.ndarray]], keep: int = 10
            ) -> Comparison:
    """``results``: (layer, tensor, expected, got) in layer order."""
    c = Comparison()
    for layer, name, want, got in results:
        c.tensors += 1
        c.elements += want.size
        bad = np.argwhere(np.asarray(got) != np.asarray(want))
        c.mismatches += len(bad)
        for i in bad[: max(0, keep - len(c.first))]:
            ix = tuple(int(v) for v in i)
            c.first.append(Mismatch(layer, name, ix, int(want[ix]), int(got[ix])))
    return c
