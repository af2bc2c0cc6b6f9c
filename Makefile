# Every target works from a clean clone: `install` is a prerequisite where one is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser test test-cluster lint typecheck unit demo check history migrate emulator bench-transform bench-e2e bench-plan bench-reconcile bench-dag clean secrets dev-env

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml devtools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet "apache-airflow==3.3.2" -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e . -e devtools
	touch $@

lint: install
	$(BIN)/ruff check include plugins dags devtools tests bench
	$(BIN)/ruff format --check include plugins dags devtools tests bench

typecheck: install
	$(BIN)/mypy

# Debian's Chromium for the UI test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# The fast suite for your own loop: everything but the real cluster and the browser.
unit: install
	$(PY) -m pytest -m "not cluster"

# Everything, as CI runs it.
test: lint typecheck browser
	$(PY) -m pytest

# The real CeleryExecutor cluster and the browser test alone (they also run in `make test`).
test-cluster: install browser
	$(PY) -m pytest tests/cluster

demo: install
	$(PY) -m learnosity_devtools.demo

# First contact with an account: `make check` or `make check ARGS="--activity a1 --activity a2"`.
check: install
	$(PY) -m learnosity_provider.check $(ARGS)

migrate: install
	$(PY) -c "from learnosity_provider import resources; print('ledger at revision', resources.ledger().revision())"

history: install
	$(PY) -m learnosity_provider.history $(if $(LEARNER),--user "$(LEARNER)") $(if $(SESSION),--session "$(SESSION)")

emulator: install
	$(PY) -m learnosity_devtools.emulator

bench-transform: install
	$(PY) bench/bench_transform.py

bench-e2e: install
	$(PY) bench/bench_e2e.py

bench-plan: install
	$(PY) bench/bench_plan.py

bench-reconcile: install
	$(PY) bench/bench_reconcile.py

# The whole nightly DAG on the real cluster at the rate limit (minutes; not part of `make test`).
bench-dag: install
	$(PY) bench/bench_dag.py

# The local compose cluster's secrets, generated into .env once (existing values are kept).
secrets:
	$(PYTHON) docker/make_env.py .env

# The same plus the demo's connections to the emulator and the demo warehouse (compose profile dev).
dev-env:
	$(PYTHON) docker/make_env.py .env --demo

clean:
	rm -rf $(VENV) .airflow .demo .mypy_cache .ruff_cache
