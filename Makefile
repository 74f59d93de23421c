# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs (torch pinned to 2.13.0: a CPU build these machines hold locally).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
MIXLAB := $(VENV)/bin/mixlab
DEMO   ?= out/demo

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Until `mixlab demo` exists (issue 7), the demo is the quickest real end-to-end loop:
# a synthetic sweep's tables -> import into a run store -> list -> export the tables back.
demo: setup
	rm -f $(DEMO)/runs.db*
	$(PY) examples/toy_runs.py $(DEMO)/tables
	$(MIXLAB) runs import --mixtures $(DEMO)/tables/mixtures.csv --metrics $(DEMO)/tables/metrics.csv --tag toy --store $(DEMO)/runs.db
	$(MIXLAB) runs list --store $(DEMO)/runs.db
	$(MIXLAB) runs export --out $(DEMO)/export/runs.csv --store $(DEMO)/runs.db

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests bench examples

clean:
	rm -rf $(VENV) out .pytest_cache
