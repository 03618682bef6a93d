# pitstop: the two commands of the quick start are `make demo` and `make test`.
# Both create .venv from the project's own files first when it is missing or out of date.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The demo's data folder (override: make demo DEMO_DATA=/tmp/pitstop-demo).
DEMO_DATA ?= data

.PHONY: help venv demo test lint clean

help:
	@echo "make demo   generate a small log and run the pipeline on it (data in $(DEMO_DATA)/)"
	@echo "make test   run the test suite"
	@echo "make lint   ruff and mypy"
	@echo "make clean  remove the venv and generated data"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/pitstop demo --data-dir $(DEMO_DATA)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data/raw data/features data/quarantine data/dbt data/logs data/warehouse.duckdb* data/registry.db data/online_store.db
