# Keel — `make dev` runs everything locally; `make test` runs the whole suite.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --project backend --locked
# Spawned processes (API servers, workers, CLI runs in tests) start in 1 s from bytecode, 3 s without it.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: chromium dev test lint fmt typecheck openapi bench uv deps migrate seed

uv:
	@command -v uv >/dev/null 2>&1 || test -x "$(HOME)/.local/bin/uv" || python3 -m pip install --user --quiet uv

deps: uv
	@$(UV) sync --project backend --locked --quiet --compile-bytecode

# keel dev runs from the virtual environment, not through `uv run`: Ctrl-C must reach it alone.
dev: deps
	@backend/.venv/bin/keel dev $(ARGS)

migrate: deps
	@$(RUN) keel migrate

seed: deps
	@$(RUN) keel seed

# The browser tests drive Debian's chromium; nothing downloads a browser at run time.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: deps chromium
	@cd backend && $(UV) run --locked pytest --cov; \
	  status=$$?; if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

lint: deps
	@cd backend && $(UV) run --locked ruff check . && $(UV) run --locked ruff format --check . \
	  && $(UV) run --locked mypy keel && $(UV) run --locked lint-imports

fmt: deps
	@cd backend && $(UV) run --locked ruff format . && $(UV) run --locked ruff check --fix .

openapi: deps
	@cd backend && $(UV) run --locked keel openapi --output openapi.json

bench: deps
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@$(RUN) python bench/run.py && $(RUN) python bench/identity.py && $(RUN) python bench/access.py \
	  && $(RUN) python bench/imports.py && $(RUN) python bench/crm.py && $(RUN) python bench/search.py \
	  && $(RUN) python bench/inproc.py --redis redis://127.0.0.1:6379/14 && $(RUN) python bench/load.py
