# crm-golden: the two Quick start commands are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := pipelines connectors dedupe expectations
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
export RUNTIME__DLTHUB_TELEMETRY := false
export DO_NOT_TRACK := 1

.PHONY: demo test ui venv bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip uv

# byte-compiled at install: every run is a fresh process, and compiling the libraries' sources
# on each start costs ~5 s (more where PYTHONDONTWRITEBYTECODE is set)
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c constraints.txt -e ".[dev,spark]" \
	  || $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,spark]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/crm-golden demo

# one test process per core (pytest-xdist); test files that share an expensive session fixture run
# in the same process (XDIST_GROUPS in tests/conftest.py). TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto

test: $(STAMP)
	@$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

ui: $(STAMP)
	@$(BIN)/python -c "from pipelines.paths import dagster_home; dagster_home()"
	$(BIN)/dg dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf data/demo_sources data/warehouse.duckdb data/dlt_pipelines
