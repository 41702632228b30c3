# Everything a fresh machine with Python 3.11 needs: `make demo`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" sh scripts/demo.sh

test: install-test
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check runner tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/check.py

clean:
	rm -rf $(VENV) .demo .runner
