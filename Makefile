# Two commands on a fresh machine: `make demo` runs the pipeline, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test bench clean

$(BIN)/imagepipe: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,heif,prometheus,web]'
	touch $@

install: $(BIN)/imagepipe

demo: install
	$(BIN)/imagepipe demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest
	$(BIN)/python -m tests.dramatiq_suite.run

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) *.egg-info media imagepipe.db imagepipe.db-wal imagepipe.db-shm
