# The two commands a new user needs: `make serve` (run) and `make test` (set up + test).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mkdocs-material's banner about its successor is noise in every build.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

.PHONY: setup serve demo test test-fast docs lint format typecheck protos protos-check config-doc bench bench-unlock clean

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
	$(BIN)/python scripts/gen_config_doc.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(MKDOCS) build --strict --site-dir .site -q
	$(BIN)/pytest -q

# The inner loop (about 25 s here): the unit and security shelves and the store contract on the
# fake and a single Redis; no process tests (`slow`: tests/e2e and a few more), no cluster.
# `make test` runs everything, with the other gates.
test-fast: setup
	$(BIN)/pytest -q -m "not slow and not cluster" tests/unit tests/contract tests/security

# The documentation site (mkdocs.yml, docs/) into .site/; `make test` builds it with --strict.
docs: setup
	$(MKDOCS) build --strict --site-dir .site

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

config-doc: setup
	$(BIN)/python scripts/gen_config_doc.py

protos-check: setup
	$(BIN)/python scripts/gen_protos.py --check

bench: setup
	$(BIN)/python bench/bench_unlock.py

clean:
	rm -rf .authority .pytest_cache .mypy_cache .ruff_cache .site
