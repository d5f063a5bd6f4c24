# Quick start: `make demo`, `make test`. Both create .venv and install into it; re-running is cheap.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# inlet's own modules compiled to bytecode, as a non-editable `pip install` leaves them: with PYTHONDONTWRITEBYTECODE
# set (some machines set it) every `inlet` command would otherwise compile them again (~40 ms of its start-up).
# Only what changed is compiled again.
BYTECODE = $(BIN)/python -m compileall -q -j 0 engine connectors sandbox mappings >/dev/null
# pytest-xdist workers for `make test`: one more than the cores, since many tests spend part of their time
# waiting (rate limits, schedules, subprocesses), and a waiting worker leaves its core to another.
# On 2 cores: 3 workers ~3 min, 2 workers ~3.7 min, no xdist ~8-9.5 min. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BYTECODE)
	$(BIN)/inlet demo

test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	command -v prometheus >/dev/null || (apt-get update -qq && apt-get install -y -qq prometheus)  # tests/test_dashboard.py
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)  # the lake's catalog in tests/test_lake*.py
	$(BIN)/ruff check .
	$(BYTECODE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# Benchmarks print figures; they are never part of the pass/fail test run. wrk is the load generator.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BYTECODE)
	$(BIN)/python bench/collect.py
	$(BIN)/python bench/pull.py
	$(BIN)/python bench/sync_million.py
	$(BIN)/python bench/mapping.py
	$(BIN)/python bench/console.py
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	$(BIN)/python bench/lake.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) demo-data .pytest_cache
