# The README's two commands: `make demo` (the main job) and `make test` (the test suite).
# Each creates or updates the virtual environment in .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HDC := $(VENV)/bin/hdc
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo
DEMO_PATIENTS ?= 20000

.PHONY: demo test venv bench clean

venv: $(STAMP)

# torch is installed first and pinned: any other torch request may pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[all,test]" "torch==2.13.0"
	touch $(STAMP)

# The main job: a demo source extract, the quality gate over it, then the demo project.
demo: $(STAMP)
	$(HDC) demo-data --patients $(DEMO_PATIENTS) --seed 42 --out $(DEMO_DIR)/source --force
	$(HDC) contract lint data_contracts/*.yaml
	$(HDC) contract validate data_contracts $(DEMO_DIR)/source --json $(DEMO_DIR)/gate.json --html $(DEMO_DIR)/gate.html

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/contract_validation.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .hypothesis
