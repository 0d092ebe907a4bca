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

# The `aistock` code location of workspace.yaml. Run from inside DAGSTER_HOME: `dagster dev` warns about any other
# dagster.yaml in its working directory (the repository's is the production instance, not this laptop's).
ui: setup
	home=$$(realpath -m "$${DAGSTER_HOME:-.aistock/dagster}"); mkdir -p "$$home" && \
	export AISTOCK_HOME=$$(realpath -m "$${AISTOCK_HOME:-.aistock}") DAGSTER_HOME="$$home" && \
	cd "$$home" && $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml
