"""``python -m rtl_gen build``: model or IR -> build folder (RTL, program, memory image,
golden tensors, report, manifest), written atomically and byte-identically for equal
inputs."""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from n2uq_hw.errors import N2UQError, fail
from n2uq_hw.fsutil import atomic_folder
from n2uq_hw.ir.graph import Graph, load_ir, write_ir_files
from n2uq_hw.reference import run_ir
from rtl_gen.compile.emit import emit
from rtl_gen.compile.perf import program_perf
from rtl_gen.compile.program import compile_layers
from rtl_gen.config import TARGETS, EngineConfig
from rtl_gen.engine_model import run_program
from rtl_gen.generate import components, to_verilog, widths
from rtl_gen.hw.and_sums import sim_models
from rtl_gen.report import markdown, report

# Amaranth's Verilog is width-correct by construction (its semantics, not Verilog's, decide
# every width); Verilator -Wall still flags how it is spelled: implicit zero/sign extensions
# (WIDTHEXPAND) and `!` on a multi-bit value for `== 0` (WIDTHTRUNC), unused intermediate bits
# of sliced expressions (UNUSEDSIGNAL), reg declarations with an initial value that a process
# also assigns (PROCASSINIT: the reset value), zero-width signals written `[-1:0]`
# (ASCRANGE: a one-valued range such as one element per word), `case` without `default`
# over values a narrower selector cannot take (CASEINCOMPLETE), comparisons with a constant
# that always hold at a parameter's value (CMPCONST), and it writes a design's submodules
# into one file named after the top (DECLFILENAME). Every other warning fails the lint.
#: build/MODEL/rtl/SIM_ONLY: behavioural models of device cells the RTL instantiates, for
#: simulators and lint only (synthesis reads rtl/*.v and takes the vendor cells)
SIM_ONLY = "sim_only"
LINT_WAIVERS = ("WIDTHEXPAND", "WIDTHTRUNC", "UNUSEDSIGNAL", "PROCASSINIT", "ASCRANGE",
                "CASEINCOMPLETE", "CMPCONST", "DECLFILENAME")


class Steps:
    """One progress line per build step on stderr, with its time."""

    def __init__(self, total: int) -> None:
        self.total, self.i, self.t = total, 0, time.perf_counter()

    def __call__(self, what: str) -> None:
        self.i += 1
        print(f"[{self.i}/{self.total}] {what} ({time.perf_counter() - self.t:.1f} s)",
              file=sys.stderr, flush=True)


def default_input(graph: Graph, seed: int) -> torch.Tensor:
    """The build's default input: one smooth synthetic image (seeded)."""
    from n2uq_hw.lower.cli import synthetic_pixels

    c, h, w = graph.node(graph.input).type.shape
    if h != w or c != 3:
        fail(f"input {c}x{h}x{w}: the default input needs a square RGB image")
    return synthetic_pixels(1, h, seed + 1)


def lint(rtl: Path) -> dict:
    """Verilator --lint-only -Wall on every file; status 'skipped' without Verilator."""
    from sim.toolchain import require, tool_env

    try:
        exe = require("verilator")
    except N2UQError as exc:  # a missing tool only skips the lint
        return {"status": f"skipped ({exc})"}
    waive = [f"-Wno-{w}" for w in LINT_WAIVERS]
    models = [str(f.relative_to(rtl)) for f in sorted((rtl / SIM_ONLY).glob("*.v"))]
    for f in sorted(rtl.glob("*.v")):
        r = subprocess.run([exe, "--lint-only", "-Wall", *waive, f.name, *models,
                            "--top-module", f.stem],
                           cwd=rtl, env=tool_env(), capture_output=True, text=True, check=False)
        if r.returncode:
            first = next((ln for ln in r.stderr.splitlines() if ln.startswith("%")), r.stderr)
            fail(f"generated Verilog {f.name} fails verilator --lint-only: {first}")
    return {"status": "clean (verilator --lint-only -Wall, waived: " + ", ".join(LINT_WAIVERS)
            + ")", "waivers": list(LINT_WAIVERS)}


def _resolve(args: argparse.Namespace) -> tuple[Graph, str, dict]:
    """(IR graph, build name, provenance) from a registry name or a saved IR folder."""
    src = Path(args.model)
    if (src / "graph.json").is_file() or src.name == "graph.json":
        graph = load_ir(src)
        return graph, graph.model, {"ir": str(src), "weights_from": graph.meta.get(
            "checkpoint") or graph.meta.get("weights", "saved IR")}
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.model):
        fail(f"{args.model} is neither a registry model name nor an IR folder with graph.json")
    from n2uq_hw.lower.cli import lower_from_args

    res = lower_from_args(args)
    meta = res.graph.meta
    how = meta.get("checkpoint") or meta.get("weights")
    if not args.checkpoint:
        print(f"no checkpoint: using {how}", file=sys.stderr)
    return res.graph, args.model, {"weights_from": f"{how}; calibration: {meta['calibration']}"}


def _manifest(out: Path, cfg: EngineConfig, args: argparse.Namespace, source: dict) -> dict:
    pkgs = {}
    for dist in ("n2uq-hw", "amaranth", "torch", "numpy"):
        try:
            pkgs[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pkgs[dist] = "not installed"
    files = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file()}
    return {"format": "n2uq-hw-build", "version": 1, "engine": cfg.to_json(),
            "arguments": {k: v for k, v in sorted(vars(args).items()) if k != "func"},
            "source": source, "packages": pkgs, "files": files}


def _json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


def build(args: argparse.Namespace) -> Path:
    step = Steps(7)
    cfg = EngineConfig.for_target(args.target, pe=args.pe, simd=args.simd,
                                  epi_lanes=args.epi_lanes)
    graph, name, source = _resolve(args)
    step(f"IR of {name}: {len(graph.nodes)} nodes")
    program = compile_layers(graph, cfg)
    perfs = program_perf(program)
    for p in program.layers:
        if p.plan is not None and p.plan.acc_bits > 64:
            fail(f"layer {p.name}: accumulator needs {p.plan.acc_bits} bits (> 64)")
    step(f"compiled {len(program.layers)} layers")
    x = default_input(graph, args.seed)
    golden = run_ir(graph, x)
    env = run_program(program, x)
    bad = [k for k in env if not torch.equal(env[k], golden[k])]
    if bad:
        fail(f"internal error: the engine model differs from the reference at {bad[0]}")
    step(f"golden tensors and engine model agree on {len(env)} tensors")
    img, prog = emit(program, perfs)
    img.chunks.append((img.regions[graph.input].offset,
                       img.tensor_bytes(graph.node(graph.input).type, x[0].numpy())))
    step(f"memory image {img.end / 1e6:.2f} MB")
    out = Path(args.out or f"build/{name}")
    w = widths(program)
    with atomic_folder(out) as tmp:
        (tmp / "ir").mkdir()
        write_ir_files(graph, tmp / "ir")
        (tmp / "rtl").mkdir()
        for cname, comp in components(program, img.end // img.word_bytes).items():
            text = to_verilog(cname, comp)
            (tmp / "rtl" / f"{cname}.v").write_text(text)
            for fname, model in sim_models(text).items():  # device cells, for simulators
                (tmp / "rtl" / SIM_ONLY).mkdir(exist_ok=True)
                (tmp / "rtl" / SIM_ONLY / fname).write_text(model)
        step("Verilog generated")
        lint_res = lint(tmp / "rtl")
        step(f"lint: {lint_res['status']}")
        (tmp / "memory.bin").write_bytes(img.to_bytes())
        _json(tmp / "program.json", prog)
        np.savez_compressed(tmp / "golden.npz", input=x[0].numpy(),
                            **{k: v[0].numpy() for k, v in golden.items() if k in env})
        rep = report(program, perfs, prog, w, lint_res, source)
        _json(tmp / "report.json", rep)
        (tmp / "report.md").write_text(markdown(rep))
        _json(tmp / "manifest.json", _manifest(tmp, cfg, args, source))
        s = rep["summary"]
        step(f"wrote {out}: {s['cycles']:,} predicted cycles, utilisation "
             f"{100 * s['utilisation']:.1f}%, {s['fps']:.1f} fps at {cfg.clock_mhz} MHz")
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    from n2uq_hw.lower.cli import add_lower_options

    p = sub.add_parser("build", help="model or IR -> RTL, program, memory image, report")
    p.add_argument("model", metavar="MODEL", help="registry name (resnet18_w2a2, ...) or an "
                   "IR folder")
    # 16 calibration images: a seeded network's BN statistics and fixed-point formats settle
    # well before that, and it keeps a ResNet-18 build near half a minute
    add_lower_options(p, model_required=False, images=16)
    p.add_argument("--pe", type=int, help="output-channel lanes (default: per target)")
    p.add_argument("--simd", type=int, help="input lanes (default: per target)")
    p.add_argument("--epi-lanes", type=int, help="serial epilogue lanes, a divisor of PE "
                   "(default: PE / 4; docs/ARCHITECTURE.md \"Serial epilogue\")")
    p.add_argument("--target", default="generic", choices=tuple(TARGETS))
    p.add_argument("-o", "--out", help="build folder (default build/MODEL)")
    p.set_defaults(func=lambda a: print(build(a)) or 0)
