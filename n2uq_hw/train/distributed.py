"""Single-process or ``torchrun`` (DistributedDataParallel) execution context."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from n2uq_hw.errors import fail


@dataclass(frozen=True)
class Context:
    """Where this process runs: rank, world size and device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        fail("--device cuda asked for, but no CUDA GPU is available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        fail(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)")
    return torch.device(name)


def setup(device_name: str) -> Context:
    """Read torchrun's environment; start the process group when there are several ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = pick_device(device_name)
    if world > 1:
        if device.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(rank, world, device)


def all_reduce_sum(values: list[float], ctx: Context) -> list[float]:
    """Sum a few scalars over all ranks (identity without distribution)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def teardown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
