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

# The whole loop on the demo corpora, short version (drop --quick for the full one).
demo: setup
	$(MIXLAB) demo --quick --out $(DEMO)

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) out .pytest_cache
