# Every target bootstraps .venv itself: uv (pinned) from PyPI, then the locked dependency set.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint format ui dashboard api up down status soak docs clean bench

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON) --quiet
	@touch $@

run: $(SYNCED)
	$(BIN)/modelatlas run $(if $(SELECT),--select '$(SELECT)') $(if $(SAMPLE),--sample) $(if $(STRICT),--strict) $(if $(REBUILD),--rebuild)

# Two workers (WORKERS=N for more), each with its own embedded warehouse; a test file stays on one worker, and files
# start in collection order (tests/conftest.py puts the longest first) rather than by their number of tests.
test: $(SYNCED)
	$(BIN)/pytest -n $(or $(WORKERS),2) --dist loadfile --no-loadscope-reorder --durations=15

lint: $(SYNCED)
	$(BIN)/ruff check modelatlas tests bench
	$(BIN)/ruff format --check modelatlas tests bench
	$(BIN)/mypy
	$(BIN)/deptry .

format: $(SYNCED)
	$(BIN)/ruff format modelatlas tests bench
	$(BIN)/ruff check --fix modelatlas tests bench

# The benchmark harness (bench/): `make bench` measures at full size, `make bench QUICK=1` is a short smoke run.
bench: $(SYNCED)
	$(BIN)/python -m bench $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY)) $(if $(DOCS),--docs)

ui: $(SYNCED)
	$(BIN)/modelatlas ui $(if $(SAMPLE),--sample)

# The dashboard (Streamlit) on http://127.0.0.1:8501 (`make dashboard PORT=8502` for another port).
dashboard: $(SYNCED)
	$(BIN)/modelatlas dashboard $(if $(SAMPLE),--sample) $(if $(PORT),--port $(PORT))

# The read API on http://127.0.0.1:8000 (REST v2, docs at /v2/docs; GraphQL at /graphql; `PORT=8001` for another).
api: $(SYNCED)
	$(BIN)/modelatlas api $(if $(SAMPLE),--sample) $(if $(PORT),--port $(PORT))

# Production mode on this machine: the Dagster webserver, daemon and code server as background services.
up: $(SYNCED)
	$(BIN)/modelatlas up $(if $(SAMPLE),--sample) $(if $(PORT),--port $(PORT))

down: $(SYNCED)
	$(BIN)/modelatlas down

status: $(SYNCED)
	$(BIN)/modelatlas status $(if $(SAMPLE),--sample)

# The soak: production mode against the simulator, every schedule each minute, for MINUTES minutes, then checks.
soak: $(SYNCED)
	$(BIN)/python -m bench.soak --minutes $(or $(MINUTES),15)

# The dbt docs site (models, columns, tests, lineage) generated against the warehouse, served on
# http://127.0.0.1:8080 (`make docs PORT=8090` for another port) until Ctrl-C.
docs: $(SYNCED)
	$(BIN)/modelatlas dbt -- docs generate
	$(BIN)/modelatlas dbt -- docs serve --host 127.0.0.1 --port $(or $(PORT),8080) --no-browser

clean:
	rm -rf $(VENV) $(TOOLS) dbt_project/target dbt_project/logs
