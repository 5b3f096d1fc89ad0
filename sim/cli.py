"""``python -m rtl_gen sim BUILD``: run a build's engine in Verilator (through cocotb) on the
build's program and compare every tensor each layer writes with the golden model's."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from n2uq_hw.errors import fail
from n2uq_hw.fsutil import atomic_folder
from n2uq_hw.ir.graph import load_ir
from rtl_gen.compile.image import MemoryImage, Region
from sim.compare import compare

TOLERANCE = 0.05  # simulated vs predicted cycles per layer


def _load(build: Path) -> tuple[dict, bytes, dict]:
    need = ["program.json", "memory.bin", "golden.npz", "rtl/engine.v", "ir/graph.json"]
    missing = [n for n in need if not (build / n).is_file()]
    if missing:
        fail(f"{build} is not an engine build folder (missing {', '.join(missing)}); run "
             "python -m rtl_gen build first")
    prog = json.loads((build / "program.json").read_text())
    if "program_base" not in prog:
        fail(f"{build}/program.json has no engine program (built by an older version?)")
    gold = dict(np.load(build / "golden.npz"))
    return prog, (build / "memory.bin").read_bytes(), gold


def image_of(prog: dict) -> MemoryImage:
    img = MemoryImage(prog["engine"]["mem_bits"])
    for name, r in prog["regions"].items():
        img.regions[name] = Region(name, r["kind"], r["offset"], r["size"], {})
    img.end = prog["memory_bytes"]
    return img


def _input(args, graph, gold: dict) -> tuple[torch.Tensor, dict | None]:
    """The input image and, for a new input, the golden tensors for it."""
    from n2uq_hw.reference import run_ir

    c, h, w = graph.node(graph.input).type.shape
    if args.input:
        from n2uq_hw.data.decode import open_rgb
        from n2uq_hw.data.transforms import to_chw_uint8, val_transform

        p = Path(args.input)
        if not p.is_file():
            fail(f"--input {p}: no such file")
        x = to_chw_uint8(val_transform(open_rgb(p.read_bytes(), str(p)), h))[None]
    elif args.random is not None:
        g = torch.Generator().manual_seed(args.random)
        x = torch.randint(0, 256, (1, c, h, w), generator=g, dtype=torch.uint8)
    else:
        return torch.from_numpy(gold["input"])[None], None
    return x, {k: v[0].numpy() for k, v in run_ir(graph, x).items()}


def _put(mem: bytearray, offset: int, data: bytes) -> None:
    mem[offset:offset + len(data)] = data


def _layers(spec: str | None, n: int) -> tuple[int, int]:
    if not spec:
        return 0, n
    m = re.fullmatch(r"(\d*):(\d*)", spec)
    if not m:
        fail(f"--layers {spec}: expected A:B (layer indices, B exclusive)")
    a, b = int(m.group(1) or 0), int(m.group(2) or n)
    if not 0 <= a < b <= n:
        fail(f"--layers {spec}: the program has layers 0..{n - 1}")
    return a, b


def simulate(args: argparse.Namespace) -> int:
    build = Path(args.build)
    prog, blob, gold = _load(build)
    graph = load_ir(build / "ir")
    img = image_of(prog)
    x, new_gold = _input(args, graph, gold)
    if new_gold is not None:
        gold = {"input": x[0].numpy(), **new_gold}
    a, b = _layers(args.layers, len(prog["layers"]))
    mem = bytearray(blob)
    t_in = graph.node(graph.input).type
    _put(mem, img.regions[graph.input].offset, img.tensor_bytes(t_in, x[0].numpy()))
    base = prog["program_base"]
    mem_bits = prog["engine"]["mem_bits"]
    wps = max(1, 64 // mem_bits)
    if a > 0 or b < len(prog["layers"]):
        # earlier layers' outputs from the golden model; a header for layers a..b-1 in the
        # slot before descriptor a (the engine reads the descriptors that follow it)
        for la in prog["layers"][:a]:
            for name in la["writes"]:
                t = graph.node(name).type
                _put(mem, img.regions[name].offset, img.tensor_bytes(t, gold[name]))
        base = base + wps * (a * len(prog["descriptor_fields"]))
        _put(mem, base * mem_bits // 8, (b - a).to_bytes(8, "little"))
    v = (build / "rtl" / "engine.v").read_text()
    ab = int(re.search(r"input \[(\d+):0\] base;", v).group(1)) + 1
    from sim.run import EngineSim

    t0 = time.perf_counter()
    tool = {"verilator": "Verilator", "icarus": "Icarus"}[args.simulator]
    print(f"[1/3] building the {tool} model of {build / 'rtl' / 'engine.v'}", file=sys.stderr,
          flush=True)
    work = build / "sim"
    es = EngineSim(build / "rtl" / "engine.v", work, addr_bits=ab, mem_bits=mem_bits,
                   words=len(mem) // (mem_bits // 8) + 8, latency=args.latency,
                   waves=args.waves, fast=args.fast, simulator=args.simulator)
    t1 = time.perf_counter()
    print(f"[2/3] simulating layers {a}..{b - 1} ({t1 - t0:.1f} s)", file=sys.stderr, flush=True)
    res = es.run(bytes(mem), base, stall=args.stall)
    t2 = time.perf_counter()
    results = []
    for la in prog["layers"][a:b]:
        for name in la["writes"]:
            got = img.read_tensor(res.memory, name, graph.node(name).type)
            results.append((la["index"], name, gold[name], got))
    cmp = compare(results)
    cycles = [res.starts[i + 1] - res.starts[i] for i in range(b - a)]
    layers = []
    off_model = []
    for la, cyc in zip(prog["layers"][a:b], cycles, strict=True):
        pred = la["predicted_cycles"]
        dev = cyc / pred - 1 if pred else 0.0
        layers.append({"index": la["index"], "name": la["nodes"][0], "cycles": cyc,
                       "predicted": pred, "deviation": dev})
        if abs(dev) > TOLERANCE:
            off_model.append(layers[-1])
    total = res.starts[-1]
    rep = json.loads((build / "report.json").read_text()) if (build / "report.json").is_file() \
        else {}
    ideal = sum(r.get("ideal_cycles", 0) for r in rep.get("layers", [])[a:b])
    summary = {"layers_checked": b - a, "tensors": cmp.tensors, "elements": cmp.elements,
               "mismatches": cmp.mismatches, "cycles": total,
               "utilisation": ideal / total if total and ideal else None,
               "clock_mhz": prog["engine"]["clock_mhz"],
               "fps": prog["engine"]["clock_mhz"] * 1e6 / total if total else None,
               "build_s": round(t1 - t0, 1), "sim_s": round(t2 - t1, 1),
               "latency": args.latency, "stall": args.stall,
               "input": args.input or (f"random seed {args.random}"
                                      if args.random is not None else "build default"),
               "first_mismatches": [str(m) for m in cmp.first], "layers": layers,
               "cycles_within_5_percent": not off_model}
    with atomic_folder(work / "result") as tmp:
        (tmp / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"[3/3] {b - a} layers, {cmp.tensors} tensors, {cmp.elements:,} elements compared: "
          f"{cmp.mismatches} mismatches; {total:,} cycles"
          + (f", utilisation {100 * summary['utilisation']:.1f}%" if summary["utilisation"]
             else "") + f", {summary['fps']:.1f} fps at {summary['clock_mhz']} MHz; "
          f"build {t1 - t0:.1f} s, simulation {t2 - t1:.1f} s", file=sys.stderr)
    for la in off_model:
        print(f"cycles of layer {la['index']} ({la['name']}): simulated {la['cycles']:,}, "
              f"predicted {la['predicted']:,} ({100 * la['deviation']:+.1f}%, beyond 5%)",
              file=sys.stderr)
    if cmp.mismatches:
        print(f"MISMATCH: first mismatching layer {cmp.first_layer}", file=sys.stderr)
        for m in cmp.first:
            print(f"  {m}", file=sys.stderr)
        return 1
    print("bit exact", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run a build in Verilator (or Icarus) through cocotb against "
                       "its golden tensors")
    p.add_argument("build", metavar="BUILD", help="a build folder (python -m rtl_gen build)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", metavar="IMG", help="an image file (default: the build's input)")
    src.add_argument("--random", type=int, metavar="SEED", help="a random input image")
    p.add_argument("--layers", metavar="A:B", help="simulate layers A..B-1 only (inputs from "
                   "the golden model)")
    p.add_argument("--waves", action="store_true", help="write a trace into build/MODEL/sim "
                   "(FST from Verilator, VCD from Icarus)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="Icarus Verilog: a second opinion on the same Verilog (a few hundred "
                   "cycles a second: small builds or --layers)")
    p.add_argument("--latency", type=int, default=2, help="memory latency in cycles (default 2)")
    p.add_argument("--fast", action="store_true",
                   help="compile the model with -O2 (slower build, faster simulation)")
    p.add_argument("--stall", type=int, default=0,
                   help="memory stall probability per 256 requests (default 0)")
    p.set_defaults(func=simulate)
