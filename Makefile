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
DEMO_HOME ?= $(abspath $(DEMO_DIR))/hdc
DEMO_APPLICATION := templates/application/examples/demo-diabetes/project.yaml

.PHONY: demo sandbox-down test venv bench clean

venv: $(STAMP)

# torch is installed first and pinned: any other torch request may pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[all,test]" "torch==2.13.0"
	# DP synthetic data: smartnoise-synth pins an old Opacus, so it comes without its own pins.
	$(PY) -m pip install --quiet --no-deps "smartnoise-synth==1.0.8"
	$(PY) -m pip install --quiet "smartnoise-sql==1.0.10" "mbi>=1.1,<2" "disjoint-set>=0.9,<0.10" "pac-synth>=0.0.8,<0.0.9" "torch==2.13.0"
	touch $(STAMP)

# The main job: a demo source extract, the quality gate over it, the demo project approved and
# provisioned from its example application, and the sandbox up at http://127.0.0.1:8000.
# State lives in DEMO_HOME (HDC_HOME); run as root, the sandbox uses real Unix accounts.
demo: $(STAMP)
	$(HDC) demo-data --patients $(DEMO_PATIENTS) --seed 42 --out $(DEMO_DIR)/source --force
	$(HDC) contract lint data_contracts/*.yaml
	$(HDC) contract validate data_contracts $(DEMO_DIR)/source --json $(DEMO_DIR)/gate.json --html $(DEMO_DIR)/gate.html
	HDC_HOME=$(DEMO_HOME) $(HDC) application validate $(DEMO_APPLICATION)
	HDC_HOME=$(DEMO_HOME) $(HDC) permit approve $(DEMO_APPLICATION) --by steward1
	HDC_HOME=$(DEMO_HOME) $(HDC) project provision p2026-001-diabetes --source $(DEMO_DIR)/source --by steward1
	@# the twin is released only through its own gate; a refusal is reported, not fatal to the demo
	-HDC_HOME=$(DEMO_HOME) $(HDC) project twin p2026-001-diabetes
	HDC_HOME=$(DEMO_HOME) $(HDC) sandbox up

sandbox-down: $(STAMP)
	HDC_HOME=$(DEMO_HOME) $(HDC) sandbox down

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/cli_startup.py
	$(PY) benchmarks/contract_validation.py
	$(PY) benchmarks/provisioning.py
	$(PY) benchmarks/spawn.py
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/dp_training.py
	$(PY) benchmarks/synthetic.py

clean:
	-test -x $(HDC) && HDC_HOME=$(DEMO_HOME) $(HDC) sandbox down
	rm -rf $(DEMO_DIR) .pytest_cache .hypothesis
