# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The machine first (CPU kind, native bf16, what --precision auto picks): CI logs start with it.
test: $(STAMP)
	$(BIN)/gifemo doctor
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Synthetic data -> ResNet-ConvGRU trained on the CPU -> report, predictions (~15 min on 2 cores).
demo: $(STAMP)
	$(BIN)/gifemo demo --out demo

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
