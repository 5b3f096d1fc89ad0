"""``synth --fit``: the largest PE x SIMD whose estimate fits the target with a margin and
meets the requested clock; the build is remade with it (into a temporary sibling) and one
synthesis run confirms it before the new build replaces the old one.

Candidates are powers of two for PE and SIMD that the engine accepts (rtl_gen/config.py).
Each is estimated with the build's datapath widths; from the largest down, the first that
fits is compiled (exact widths and weight-buffer size for that shape) and estimated again.
Among equally large arrays the one with the fewest predicted cycles wins.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from n2uq_hw.errors import N2UQError, fail
from rtl_gen.synth.estimate import estimate, shortfalls
from rtl_gen.synth.targets import Target

POWERS = [2**k for k in range(9)]


def _exact(graph, t: Target, pe: int, simd: int):
    """(config, program widths, wbuf bits, predicted cycles) for one shape, or None when
    the engine rejects it."""
    from rtl_gen.compile.perf import program_perf
    from rtl_gen.compile.program import compile_layers
    from rtl_gen.config import EngineConfig
    from rtl_gen.generate import widths

    try:
        cfg = EngineConfig.for_target(t.name, pe=pe, simd=simd)
        program = compile_layers(graph, cfg)
        w = widths(program)
    except N2UQError:
        return None
    cycles = sum(p.predicted for p in program_perf(program))
    return cfg, w, program.wbuf_bits, cycles


def choose(build: Path, rep: dict, t: Target, *, clock: float, margin: float,
           nodsp: bool | None, engine: bool, speed: int | None = None) -> dict:
    """The fit record: chosen shape, its estimate and the candidates considered
    (``speed``: the ECP5 speed grade the clock is estimated for; None: 6)."""
    from n2uq_hw.ir.graph import load_ir
    from rtl_gen.config import MAX_MACS, TARGETS, default_epi_lanes

    if not 0 <= margin < 1:
        fail(f"--margin must be in [0, 1), got {margin}")
    e = rep["engine"]
    base = TARGETS[t.name]
    rough, fastest = [], 0.0
    for pe in POWERS:
        for simd in POWERS:
            if pe * simd > MAX_MACS.get(t.name, 1 << 16):
                continue
            if simd * e["a_bits"] > 8 * base["mem_bits"]:
                continue
            est = estimate(t, pe, simd, e["a_bits"], e["w_bits"], rep["widths"], engine=engine,
                           wbuf_bits=rep["buffers"]["wbuf_bits"] * pe // e["pe"],
                           abuf_bits=base["abuf_bits"], mem_bits=base["mem_bits"], nodsp=nodsp,
                           epi_lanes=default_epi_lanes(pe), speed=speed)
            if shortfalls(est, t, margin):
                continue
            fastest = max(fastest, est.fmax_mhz)
            if est.fmax_mhz >= clock:
                rough.append((pe * simd, pe, simd))
    if not rough:
        why = (f"; the fastest shape that fits is estimated at {fastest:g} MHz (pass a "
               "--clock at or below it)" if fastest else "")
        fail(f"--fit: no PE x SIMD fits {t.name} with a {margin:.0%} margin at {clock:g} MHz "
             f"by estimate{why}")
    graph = load_ir(build / "ir")
    table = []
    for size in sorted({r[0] for r in rough}, reverse=True):
        ok = []
        for _, pe, simd in (r for r in rough if r[0] == size):
            ex = _exact(graph, t, pe, simd)
            if ex is None:
                continue
            cfg, w, wbuf, cycles = ex
            est = estimate(t, pe, simd, cfg.a_bits, cfg.w_bits, w, engine=engine,
                           wbuf_bits=wbuf, abuf_bits=cfg.abuf_bits, mem_bits=cfg.mem_bits,
                           nodsp=nodsp, epi_lanes=cfg.epi, speed=speed)
            over = shortfalls(est, t, margin)
            if est.fmax_mhz < clock:
                over.append(f"Fmax {est.fmax_mhz:g} < {clock:g} MHz")
            table.append({"pe": pe, "simd": simd, "cycles": cycles, "lut4": est.lut4,
                          "ff": est.ff, "dsp": est.dsp, "bram": est.bram,
                          "fmax_mhz": est.fmax_mhz, "fits": not over, "over": over})
            if not over:
                ok.append((cycles, pe, simd, est))
        if ok:
            cycles, pe, simd, est = min(ok)
            return {"pe": pe, "simd": simd, "margin": margin, "clock_mhz": clock,
                    "estimate": est.to_json(), "predicted_cycles": cycles,
                    "candidates": table, "confirmed": False}
    fail(f"--fit: no PE x SIMD fits {t.name} with a {margin:.0%} margin at {clock:g} MHz "
         "once compiled")


def fit_and_rebuild(build: Path, rep: dict, t: Target, *, clock: float, margin: float,
                    nodsp: bool | None, speed: int | None = None) -> tuple[Path, dict, dict]:
    """Choose a shape and remake the build with it into ``.NAME.fit`` beside ``build``;
    returns (that folder, its report, the fit record)."""
    from rtl_gen.build import build as run_build

    engine = (build / "rtl" / "engine.v").is_file()
    fit = choose(build, rep, t, clock=clock, margin=margin, nodsp=nodsp, engine=engine,
                 speed=speed)
    print(f"[fit] PE {fit['pe']} x SIMD {fit['simd']} by estimate: "
          f"{fit['estimate']['lut4']:,} LUT4, {fit['estimate']['ff']:,} FF, "
          f"{fit['estimate']['dsp']} DSP, {fit['estimate']['bram']} BRAM, "
          f"{fit['estimate']['fmax_mhz']:g} MHz", flush=True)
    man = json.loads((build / "manifest.json").read_text())
    args = argparse.Namespace(**man["arguments"])
    tmp = build.with_name(f".{build.name}.fit")
    shutil.rmtree(tmp, ignore_errors=True)
    args.model, args.out = str(build / "ir"), str(tmp)
    args.pe, args.simd, args.target = fit["pe"], fit["simd"], t.name
    try:
        run_build(args)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, json.loads((tmp / "report.json").read_text()), fit


def finish(build: Path, tmp: Path, res: dict) -> None:
    """Replace ``build`` by the fitted ``tmp`` when the synthesis confirmed the fit;
    otherwise keep ``build``, save the unconfirmed result beside it and drop ``tmp``."""
    if res["fit"]["confirmed"]:
        old = build.with_name(f".{build.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(build, old)
        os.replace(tmp, build)
        shutil.rmtree(old, ignore_errors=True)
        return
    keep = build / "synth" / f"{res['target']}.fit-unconfirmed.json"
    keep.parent.mkdir(exist_ok=True)
    keep.write_text(json.dumps(res, indent=1) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


def discard(build: Path, tmp: Path, target: str) -> None:
    """After a failed synthesis of the fitted build: keep its failure log, drop it."""
    log = tmp / "synth" / f"{target}.failed.log"
    if log.is_file():
        (build / "synth").mkdir(exist_ok=True)
        shutil.copyfile(log, build / "synth" / f"{target}.failed.log")
    shutil.rmtree(tmp, ignore_errors=True)
