"""Several placer seeds side by side (rtl_gen/synth/seeds.py), with a stand-in for nextpnr:
each seed routes in its own folder with copies of the inputs, the fastest route's report
and log become the run's, ties go to the lower seed, and the copies are removed."""

from __future__ import annotations

import json

import pytest

from n2uq_hw.errors import N2UQError
from rtl_gen.synth.seeds import run_seeds, seed_list

SPEED = {1: 80.0, 2: 95.5, 3: 91.0, 4: 95.5}


def _route(folder, seed):
    assert json.loads((folder / "netlist.json").read_text()) == {"n": 1}
    (folder / "nextpnr.json").write_text(json.dumps({"fmax": SPEED[seed], "seed": seed}))
    (folder / "nextpnr.log").write_text(f"log of seed {seed}\n")
    return f"log of seed {seed}\n"


def _measure(folder, log):
    assert log == (folder / "nextpnr.log").read_text()
    return {"fmax_mhz": json.loads((folder / "nextpnr.json").read_text())["fmax"]}


@pytest.fixture
def work(tmp_path):
    (tmp_path / "netlist.json").write_text(json.dumps({"n": 1}))
    return tmp_path


def test_the_fastest_seed_is_kept_and_every_seed_reported(work):
    best, reports = run_seeds(work, [1, 2, 3, 4], _route, _measure, jobs=2)
    speeds = {s: r["fmax_mhz"] for s, r in reports.items()}
    assert speeds == SPEED and best == 2  # 2 and 4 tie: the lower seed
    assert json.loads((work / "nextpnr.json").read_text())["seed"] == 2
    assert (work / "nextpnr.log").read_text() == "log of seed 2\n"
    for s in SPEED:
        d = work / f"seed{s}"
        assert json.loads((d / "nextpnr.json").read_text())["seed"] == s
        assert not (d / "netlist.json").exists()


def test_one_seed_routes_in_the_work_folder(work):
    assert run_seeds(work, [3], _route, _measure) == (3, {3: {"fmax_mhz": 91.0}})
    assert (work / "nextpnr.log").read_text() == "log of seed 3\n"
    assert not list(work.glob("seed*"))


def test_a_failing_seed_fails_the_run_and_leaves_no_input_copies(work):
    def route(folder, seed):
        if seed == 2:
            raise N2UQError("nextpnr failed")
        return _route(folder, seed)

    with pytest.raises(N2UQError, match="nextpnr failed"):
        run_seeds(work, [1, 2], route, _measure)
    assert not list(work.glob("seed*/netlist.json"))


def test_seed_counts():
    assert seed_list(5, 3) == [5, 6, 7]
    with pytest.raises(N2UQError, match="--seeds must be at least 1, not 0"):
        seed_list(1, 0)


def test_a_failed_run_keeps_every_seeds_log(tmp_path):
    from rtl_gen.synth.cli import _save_failed_log

    (tmp_path / "yosys.log").write_text("yosys\n")
    for s in (1, 2):
        (tmp_path / f"seed{s}").mkdir()
        (tmp_path / f"seed{s}" / "nextpnr.log").write_text(f"seed {s}\n")
    out = tmp_path / "failed.log"
    assert _save_failed_log(tmp_path, out)
    assert out.read_text() == "yosys\nseed 1\nseed 2\n"
