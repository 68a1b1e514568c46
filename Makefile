# The two commands a new user needs: `make serve` (run) and `make test` (set up + test).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup serve demo test lint format typecheck protos protos-check bench bench-unlock clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v redis-server >/dev/null || { \
	  echo "installing redis-server (apt)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

serve: setup
	$(BIN)/authority serve

demo: setup
	$(BIN)/authority demo

test: setup
	$(BIN)/python scripts/gen_protos.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

protos: setup
	$(BIN)/python scripts/gen_protos.py

protos-check: setup
	$(BIN)/python scripts/gen_protos.py --check

bench: setup
	$(BIN)/python bench/bench_unlock.py

clean:
	rm -rf .authority .pytest_cache .mypy_cache .ruff_cache
