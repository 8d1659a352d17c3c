# Developer one-liners. The README quick start shows two of them: `make run` and `make test`.
UV := $(shell scripts/ensure-uv)
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: run test test-slow lint typecheck sync openapi bench

sync:
	$(UV) sync --all-packages --frozen --inexact

run: sync  ## the whole local stack in the foreground (Ctrl-C stops it)
	$(UV) run --frozen docpipe up

test: sync  ## the whole test suite (what CI runs)
	$(UV) run --frozen pytest -q

test-slow: sync  ## long reliability scenarios, excluded from `make test`
	$(UV) run --frozen pytest -q -m slow

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: sync
	$(UV) run --frozen mypy
