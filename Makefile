# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs (torch pinned to 2.13.0: a CPU build these machines hold locally).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
MIXLAB := $(VENV)/bin/mixlab
DEMO   ?= out/demo
# Real consumers for the export tests, installed without their dependencies (they would
# replace the pinned torch); cached-path's cloud clients only need to import.
CONSUMERS_NO_DEPS := megatron-core==0.16.1 ai2-olmo-core==3.0.0 cached-path==1.8.10 \
	dataclass-extensions==0.5.0 bettermap==1.3.1 boto3==1.44.8 botocore==1.44.8 \
	s3transfer==0.19.3 jmespath==1.1.0

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,consumers]'
	$(PY) -m pip install --quiet --no-deps $(CONSUMERS_NO_DEPS)
	touch $@

# The whole loop on the demo corpora, short version (drop --quick for the full one).
demo: setup
	$(MIXLAB) demo --quick --out $(DEMO)

# Lint and format are checked first (ruff is pinned in the dev extra), then the suite.
test: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format src tests bench

clean:
	rm -rf $(VENV) out .pytest_cache
