# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export HF_HUB_DISABLE_TELEMETRY := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup servers demo dev test test-scale lint bench clean

# Real servers for the tests of the shared registry and the cluster path: Debian's
# PostgreSQL and Redis, installed once (as root, or through sudo), started by the tests
# themselves in temporary folders on loopback ports; and Debian's chromium, the headless
# browser the API page's test renders Swagger in.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SERVERS := $(VENV)/.servers

$(SERVERS):
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v redis-server >/dev/null \
	  && command -v chromium >/dev/null; \
	then echo "PostgreSQL, Redis and chromium: installed"; \
	else $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends postgresql redis-server chromium >/dev/null; fi
	mkdir -p $(VENV) && touch $@

servers: $(SERVERS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned exactly: the CPU wheel on these machines (see README)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## make demo: build the demo catalog, serve it, run the whole pipeline through Dagster
demo: setup
	$(BIN)/hub-assets-dev demo

## make dev: the Hub server, the registry service (http://127.0.0.1:8000/docs) and the
## Dagster UI through `dg dev` (http://127.0.0.1:3000)
dev: setup
	$(BIN)/hub-assets-dev build-demo
	$(BIN)/hub-assets-dev serve & server=$$!; \
	$(BIN)/hub-assets serve & api=$$!; \
	trap "kill $$server $$api" EXIT INT TERM; \
	$(BIN)/dg dev

## make test: the whole test suite (slow end-to-end tests included). Only tests quiet the
## progress bars; every other target shows them on a terminal.
test: setup servers
	HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder -q --durations=15

## make test-scale: the cluster deployment on this machine (docs/deployment.md): Dagster on
## PostgreSQL, two Celery workers on Redis, the shared registry, 30+ models. Not part of
## `make test` (it takes longer than the whole suite; see the README).
test-scale: setup servers
	HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/python -m pytest -m scale -p no:xdist -q -s

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make bench: every bench at full size (minutes each); the test suite runs each at its
## tiny size (--tiny), so a change that breaks a bench breaks `make test`
bench: setup servers
	$(BIN)/python bench/bench_hub_server.py
	$(BIN)/python bench/bench_discovery.py
	$(BIN)/python bench/bench_metrics.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_scorers.py
	$(BIN)/python bench/bench_inference.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_sensor.py
	$(BIN)/python bench/bench_registry.py
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_mirror.py
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_evidence.py
	$(BIN)/python bench/bench_verify_cache.py
	$(BIN)/python bench/bench_gate_diff.py
	$(BIN)/python bench/bench_events.py
	$(BIN)/python bench/bench_rejudge.py
	$(BIN)/python bench/bench_rescan.py
	$(BIN)/python bench/bench_health.py
	$(BIN)/python bench/bench_warm_box.py

clean:
	rm -rf data/demo_hub data/registry.duckdb data/packages .dagster_home/storage \
	  .dagster_home/history .dagster_home/schedules
