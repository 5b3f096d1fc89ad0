"""Test ordering for parallel runs (``make test`` runs files on ``-n auto`` workers, one
file per worker): the longest files start first, so a worker is not left with the
whole-network simulations at the end while the others idle."""

from __future__ import annotations

# longest first (measured: docs/BENCHMARKS.md "Test suite"); the rest keep their order
FIRST = ("test_sim_engine.py", "test_rtl_synth_tools.py", "test_hw_datapath.py",
         "test_hw_engine.py", "test_train.py")


def pytest_collection_modifyitems(config, items) -> None:
    def rank(item) -> int:
        name = item.path.name
        return FIRST.index(name) if name in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the order within a file and among the rest is kept
