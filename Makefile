# Two entry points for a fresh machine: `make demo` and `make test`; `make lint` and
# `make test-fast` for the edit loop.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast lint demo install clean gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The machine first (CPU kind, native bf16, what --precision auto picks): CI logs start with it.
# Most tests run on one torch thread, so the suite runs as one pytest-xdist worker per core
# (each test file stays on one worker, so module fixtures are built once).
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(len(os.sched_getaffinity(0)), 4))" 2>/dev/null || echo 2)

test: $(STAMP)
	$(BIN)/gifemo doctor
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Everything but the tests marked slow (training runs, the demo, DDP): a few minutes.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

# ruff under pyproject.toml's [tool.ruff] settings: lint rules, then formatting (checked, not applied).
LINTED := src tests benchmarks scripts
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# Synthetic data -> ResNet-ConvGRU trained on the CPU -> report, predictions (~15 min on 2 cores).
demo: $(STAMP)
	$(BIN)/gifemo demo --out demo

# One CUDA GPU, torch preinstalled, no internet: installs gifemo without dependencies (missing
# ones from .whl/), then tests, trains and benchmarks on the GPU into gpu-check-report.md
# (docs/gpu.md). Uses the machine's python, not the venv. DRY=1: the same steps on the CPU at
# tiny sizes, nothing installed (what the test suite runs).
GPU_PYTHON ?= python3
gpu-check:
	$(GPU_PYTHON) scripts/gpu_check.py $(if $(DRY),--dry) $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
