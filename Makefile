# Two entry points (see README): `make demo` runs the main job, `make test` runs the whole test suite.
# Both create the virtual environment on first use: torch is pinned and installed first, on its own, so that
# nothing pulls a CUDA build; everything else is pinned by requirements*.txt and constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format

demo: $(STAMP)
	cd bundle && ../$(BIN)/python -m scripts demo

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)
