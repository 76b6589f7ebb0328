# Two commands on a fresh machine: `make demo` runs the pipeline, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

SHARP := bench/sharp/node_modules/sharp

.PHONY: install demo test bench clean

$(BIN)/imagepipe: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,heif,prometheus,web,faces,ocr,places,openai]'
	touch $@

# sharp (prebuilt libvips), the peer the fuzz test and bench/fuzz.py compare with; skipped
# without npm, and then so is that comparison.
$(SHARP): bench/sharp/package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --prefix bench/sharp --no-audit --no-fund --silent; fi

install: $(BIN)/imagepipe $(SHARP)

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
	rm -rf $(VENV) bench/sharp/node_modules *.egg-info media imagepipe.db imagepipe.db-wal imagepipe.db-shm
