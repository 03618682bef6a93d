# pitstop: the two commands of the quick start are `make demo` and `make test`.
# Both create .venv from the project's own files first when it is missing or out of date.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The demo needs pitstop alone; the tests, the lint and the Spark engine need the extras too
# (pyspark and playwright are most of the venv's size and install time).
DEMO_STAMP := $(VENV)/.demo-stamp
STAMP      := $(VENV)/.installed-stamp

# The demo's data folder (override: make demo DEMO_DATA=/tmp/pitstop-demo).
DEMO_DATA ?= data

# The status page is tested in a real headless browser: Debian's chromium package. Installed
# only when missing (apt needs root: sudo is used when make does not run as root).
CHROMIUM := /usr/bin/chromium
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help venv demo test lint clean chromium bench-online

help:
	@echo "make demo   generate a small log and run the pipeline on it (data in $(DEMO_DATA)/)"
	@echo "make test   run the test suite"
	@echo "make lint   ruff and mypy"
	@echo "make bench-online   pitstop's lookup API against feast serve (needs wrk)"
	@echo "make clean  remove the venv and generated data"

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	touch $(STAMP) $(DEMO_STAMP)

venv: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/pitstop demo --data-dir $(DEMO_DATA)

$(CHROMIUM):
	$(SUDO) apt-get install -y chromium chromium-driver || \
		($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver)

chromium: $(CHROMIUM)

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy

# wrk (Debian's package) drives the HTTP load; installed here when missing.
bench-online: $(STAMP)
	command -v wrk >/dev/null || $(SUDO) apt-get install -y wrk
	$(BIN)/python bench/online.py

clean:
	rm -rf $(VENV) data/raw data/features data/quarantine data/dbt data/logs data/monitoring data/warehouse.duckdb* data/registry.db data/online_store.db
