# make setup | make test [PYTEST_ARGS=...] | make demo | make lint
# PYTEST_ARGS is passed to pytest, e.g. make test PYTEST_ARGS="tests/test_toolchain.py -m 'not slow'"
PY := .venv/bin/python
PYTEST_ARGS ?=
# test files run in parallel, one file per worker (a file's module fixtures, such as the
# simulation engine compiled once for tests/test_sim_engine.py, stay in one process)
TEST_JOBS ?= auto

.PHONY: setup test demo lint

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

demo: setup
	$(PY) -m rtl_gen build resnet18_w2a2 --target ecp5-85k

lint: setup
	$(PY) -m ruff check .
