"""``lower_model``: model + calibration images -> IR graph and the float values it mirrors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import Graph
from n2uq_hw.lower.builder import Builder
from n2uq_hw.lower.walk import walk

LOWERING_VERSION = 1
CIFAR_NORM = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass
class LowerResult:
    graph: Graph
    refs: dict[str, torch.Tensor]  # float model value per node on the given images
    ties: dict[str, torch.Tensor]  # per threshold node: elements that are float32 ties


def _check_supported(model: nn.Module) -> None:
    info = getattr(model, "info", None)
    if info is not None and info.spec.method != "n2uq":
        fail(f"model {info.name} uses {info.spec.method}; the lowering takes N2UQ models "
             "(names without _lsq/_dorefa, not _fp)")


def normalise(pixels: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (pixels.float() / 255.0 - m) / s


@torch.no_grad()
def lower_model(model: nn.Module, pixels: torch.Tensor, *, mean, std, name: str | None = None,
                fracs: dict[str, int] | None = None, residual_bits: int = 16,
                headroom: float = 2.0, stem_bits: int = 8, input_shift: int = 0,
                meta: dict | None = None) -> LowerResult:
    """Lower ``model`` (eval mode, CPU) using ``pixels`` (uint8 [B, 3, H, W]) to calibrate.

    ``fracs`` pins the fixed-point formats (node -> frac) of an earlier lowering, which makes
    this a trace of that same graph on new images.
    """
    _check_supported(model)
    if pixels.dtype != torch.uint8 or pixels.dim() != 4 or pixels.shape[1] != 3:
        raise ValueError("pixels must be a uint8 tensor [B, 3, H, W]")
    model = model.eval()
    builder = Builder(residual_bits=residual_bits, headroom=headroom,
                      mult_bits=min(residual_bits, 30), stem_bits=stem_bits,
                      input_shift=input_shift)
    mean_a, std_a = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    image = builder.input("image", pixels, normalise(pixels, mean, std))
    out = walk(model, builder, image, mean_a, std_a, fracs)
    model_name = name or getattr(getattr(model, "info", None), "name", type(model).__name__)
    graph = Graph(model_name, builder.nodes, "image", out.name, {
        "lowering_version": LOWERING_VERSION, "mean": list(map(float, mean)),
        "std": list(map(float, std)), "residual_bits": residual_bits, "headroom": headroom, "stem_bits": stem_bits,
        "input_shift": input_shift,
        **(meta or {})})
    return LowerResult(graph, dict(builder.refs), dict(builder.ties))


def fracs_of(graph: Graph) -> dict[str, int]:
    """The fixed-point formats a lowering chose (to trace the same graph on new images)."""
    return {n.name: n.type.frac for n in graph.nodes if n.op in ("requant", "add")}


@torch.no_grad()
def trace(model: nn.Module, graph: Graph, pixels: torch.Tensor) -> LowerResult:
    """Float values (and ties) of every node of ``graph`` for new ``pixels``; the graph
    itself is rebuilt with the same formats and must come out identical."""
    res = lower_model(model, pixels, mean=graph.meta["mean"], std=graph.meta["std"],
                      fracs=fracs_of(graph), residual_bits=graph.meta["residual_bits"],
                      headroom=graph.meta["headroom"], stem_bits=graph.meta["stem_bits"],
                      input_shift=graph.meta.get("input_shift", 0))
    if [n.to_json() for n in res.graph.nodes] != [n.to_json() for n in graph.nodes]:
        raise ValueError("trace: the model does not reproduce this graph")
    return res


@torch.no_grad()
def calibrate_bn(model: nn.Module, images: torch.Tensor, batches: int = 4) -> None:
    """Re-estimate BN running statistics on ``images`` (normalised float), cumulatively."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    for chunk in images.chunk(batches):
        model(chunk)
    model.eval()
    for bn in bns:
        bn.momentum = 0.1
