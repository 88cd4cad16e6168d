# flip-sync — one way to do each thing.
#   make demo    run the system on the embedded default (SQLite, emulated modems)
#   make test    lint, type-check and run the whole test suite (.ci/run calls this)
#   make setup   idempotent install into .venv, exactly the versions in requirements.lock
#   make lock    rewrite requirements.lock from pyproject.toml (after changing a dependency)
#   make bench   benchmarks → bench/results/*.json and BENCHMARKS.md
#   make soak    long reliability runs: atheris on every decoder (≥ 1,000,000 inputs),
#                schemathesis at length, 100,000 backlogged frames, private PostgreSQL restarts
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lock test lint typecheck unit services demo bench soak clean

setup: $(STAMP)

# Every third-party package (pip and setuptools too) comes from requirements.lock, pinned with
# its hashes, so pip refuses anything else; then the project itself, built with those.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Keeps the pins already in the lock unless pyproject.toml asks for something else;
# `make lock LOCK_FLAGS=--upgrade` moves every package to its newest allowed release.
lock: setup
	$(VENV)/bin/pip-compile -q --extra dev --strip-extras --allow-unsafe --generate-hashes \
	  --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml

services:
	scripts/ensure-services.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# One measured run of the whole suite: every package, and the processes the tests start
# ([tool.coverage.run]); then each package is held to its own floor ([tool.flip.coverage]).
unit: setup services
	$(VENV)/bin/pytest -n 2 --dist loadgroup --cov --cov-report=
	$(PY) scripts/coverage_floors.py

test: lint typecheck unit

demo: setup
	$(VENV)/bin/flip demo

bench: setup
	$(PY) -m bench

# Inputs per fuzz target (14 targets: 75,000 each is 1,050,000 in all).
FUZZ_RUNS ?= 75000
soak: setup services
	mkdir -p bench/results
	$(PY) -m fuzz.run all --runs $(FUZZ_RUNS) --rss-limit-mb 1024 --json bench/results/fuzz.json
	FLIP_SOAK=1 $(VENV)/bin/pytest -m soak -p no:cacheprovider -q -s --timeout 3600 tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
