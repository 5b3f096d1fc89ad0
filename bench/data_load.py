"""Time ``load_dataset`` on the CIFAR-10 JPEG archive and one CPU epoch of its train loader.

Usage: python bench/data_load.py [PATH] [--image-size 32] [--batch-size 128] [--threads N]
Prints wall time, CPU time (this process plus its decode workers) and images/s;
the machine's load average is printed too, since other jobs skew wall times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from n2uq_hw.data import load_dataset, make_loader
from n2uq_hw.errors import run_cli

DEFAULT = "/work/shared/data/cifar10-train-jpg.tgz"


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    """Print load time and train-loader throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"cpus: {len(os.sched_getaffinity(0))}, torch threads: {torch.get_num_threads()}, "
        f"load average: {os.getloadavg()[0]:.2f}"
    )

    wall, cpu = time.perf_counter(), _cpu_seconds()
    splits = load_dataset(args.path, image_size=args.image_size)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    total = len(splits.train) + len(splits.val)
    print(
        f"load_dataset: {wall:.2f} s wall, {cpu:.2f} s cpu for {total} images "
        f"({total / wall:,.0f} images/s); style {splits.style}, train {len(splits.train)}, "
        f"val {len(splits.val)} ({splits.val_source})"
    )

    loader = make_loader(splits.train, batch_size=args.batch_size, train=True, device="cpu")
    loader.set_epoch(0)
    wall, cpu, seen = time.perf_counter(), _cpu_seconds(), 0
    for images, _ in loader:
        seen += len(images)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    print(
        f"train epoch (cpu, batch {args.batch_size}, crop+flip+normalise): {wall:.2f} s wall, "
        f"{cpu:.2f} s cpu, {len(loader)} batches, {seen / wall:,.0f} images/s"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
