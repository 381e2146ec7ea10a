# RoI-pooling accelerator: one Makefile for set-up, simulation, tests and reports.
# On a fresh machine `make sim` and `make test` are all you need: the first
# target that needs Python creates .venv from pyproject.toml.

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
EXTRAS     ?= gpu
BUILD      := build

# Engine configuration and workload knobs (see `make help`).
LANES      ?= 8
DTYPE      ?= int16
WORKLOAD   ?= fast-rcnn-vgg16
SIM        ?= verilator
WAVES      ?= 0
QUICK      ?= 0
# pytest-xdist workers for `make test`: one per core by default (test files are
# kept whole on one worker so module fixtures run once); JOBS=1: one process.
JOBS       ?= auto
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv sim test verilog lint report bench crosscheck sysdeps icarus clean distclean

help: ## list the targets
	@echo "RoI-pooling accelerator toolkit"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: LANES=$(LANES) DTYPE=$(DTYPE) WORKLOAD=$(WORKLOAD) SIM=$(SIM) WAVES=$(WAVES) QUICK=$(QUICK)"
	@echo "           SIM=verilator|cocotb-verilator|icarus|pysim; WAVES=1 writes a waveform under build/sim/waves"
	@echo "           EXTRAS=torch,gpu installs the optional torchvision oracle / CuPy path"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".$(if $(EXTRAS),[$(EXTRAS)])"
	@touch $@

venv: $(STAMP) ## create or update .venv from pyproject.toml

sim: $(STAMP) sysdeps ## simulate WORKLOAD on the engine's Verilog (SIM=), check it bit for bit, print cycles
	$(PY) -m sim $(WORKLOAD) --dtype $(DTYPE) --lanes $(LANES) --sim $(SIM) --waves $(WAVES)

test: $(STAMP) sysdeps ## run the whole test suite
	$(PY) -m pytest $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadfile) $(PYTEST_ARGS)

verilog: $(STAMP) ## generate build/roipool_engine.v and its JSON (LANES=, DTYPE=)
	$(PY) -m hdl --lanes $(LANES) --dtype $(DTYPE) -o $(BUILD)/roipool_engine.v

lint: verilog ## verilator --lint-only -Wall on the generated Verilog
	$(PY) -m hdl.lint $(BUILD)/roipool_engine.v

report: $(STAMP) ## build reports/out/ (FPGA figures, cycles vs GPU vs CPU, plots); QUICK=1 for CI
	$(PY) -m reports $(if $(filter 1,$(QUICK)),--quick)

crosscheck: $(STAMP) ## run every available backend against the golden model
	$(PY) -m host crosscheck

bench: $(STAMP) ## print speed figures measured side by side
	$(PY) -m reports.bench

# Optional system packages, installed where apt-get is usable (root on
# Debian/Ubuntu); elsewhere what needs them says so and falls back:
#   iverilog    the second simulator (its tests skip with a reason);
#   liblz4-dev  Verilator's FST waveform writer (WAVES=1 falls back to VCD).
SYSPKGS := iverilog:iverilog liblz4-dev:/usr/include/lz4.h
sysdeps:
	@missing=""; for p in $(SYSPKGS); do pkg=$${p%%:*}; probe=$${p#*:}; \
	  if [ "$${probe#/}" != "$$probe" ]; then [ -e "$$probe" ] || missing="$$missing $$pkg"; \
	  else command -v "$$probe" >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$missing with apt-get"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	    || echo "warning: apt-get could not install$$missing (Icarus tests skip, waveforms fall back to VCD)"; \
	else echo "note:$$missing absent and apt-get not usable here (Icarus tests skip, waveforms fall back to VCD)"; fi

icarus: sysdeps

clean: ## remove generated files (build/, reports/out/, caches)
	rm -rf $(BUILD) sim_build reports/out .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
