# Two commands on a fresh machine: `make demo` (set up + run the main job), `make test` (the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench ui

$(BIN)/aistock: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,qlib,celery,k8s]"
	touch $(BIN)/aistock

setup: $(BIN)/aistock

demo: setup
	$(BIN)/aistock demo

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check .

bench: setup
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

# The `aistock` code location of workspace.yaml, started without warnings: from inside DAGSTER_HOME (`dagster dev`
# warns about any other dagster.yaml in its working directory, and the repository's is the production instance),
# with the laptop instance file the demo writes (written here if missing), and without the CLI's notice that
# `dagster dev` has a successor in the separate `dg` package.
ui: setup
	home=$$(realpath -m "$${DAGSTER_HOME:-.aistock/dagster}") && \
	export AISTOCK_HOME=$$(realpath -m "$${AISTOCK_HOME:-.aistock}") DAGSTER_HOME="$$home" && \
	$(BIN)/python -c "from aistock_core.config import get_settings; from aistock_pipelines.demo import \
	resolve_dagster_home; resolve_dagster_home(get_settings())" && \
	cd "$$home" && PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
	$(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml
