# Developer one-liners. The README quick start shows two of them: `make run` and `make test`.
UV := $(shell scripts/ensure-uv)
# Tests and tools that run `uv` themselves (service closure, image checks) find the same one.
export PATH := $(patsubst %/,%,$(dir $(UV))):$(PATH)
export XDG_RUNTIME_DIR ?= /tmp
# Compile bytecode at install, as the images do: each PDF is extracted by a fresh
# interpreter, which would otherwise recompile PyMuPDF (~4 s) where bytecode is not written.
export UV_COMPILE_BYTECODE ?= 1

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

# Benchmarks (bench/): commands, not tests. Each prints tables + conditions and writes
# bench/results/<name>.json, quoted by docs/benchmarks.md.
BENCHES := ingestion bulk_ingestion embedding_efficiency db_writes query_latency cold_start cost_model
.PHONY: $(addprefix bench-,$(subst _,-,$(BENCHES)))

bench: bench-ingestion bench-bulk-ingestion bench-embedding-efficiency bench-db-writes bench-query-latency bench-cold-start bench-cost-model  ## every benchmark (~30 min)

bench-ingestion: sync
	$(UV) run --frozen python -m bench.ingestion

bench-bulk-ingestion: sync  ## 5,000 one-page PDFs through `docpipe upload` and `docpipe up`; the processor alone
	$(UV) run --frozen python -m bench.bulk_ingestion

bench-embedding-efficiency: sync
	$(UV) run --frozen python -m bench.embedding_efficiency

bench-db-writes: sync
	$(UV) run --frozen python -m bench.db_writes

bench-query-latency: sync
	$(UV) run --frozen python -m bench.query_latency

bench-cold-start: sync
	$(UV) run --frozen python -m bench.cold_start

bench-cost-model: sync  ## $ per 1,000 pages / answers, idle month, HR workload (docs/costs.md)
	$(UV) run --frozen python -m bench.cost_model
