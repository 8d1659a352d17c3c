"""Every benchmark module imports (benchmarks themselves are commands, never tests)."""

from __future__ import annotations

import importlib

import pytest

BENCHES = [
    "bench._conditions",
    "bench._corpus",
    "bench._stack",
    "bench._worker",
    "bench._first_request",
    "bench._vectors",
    "bench.ingestion",
    "bench.bulk_ingestion",
    "bench._process_cpu",
    "bench.embedding_efficiency",
    "bench.db_writes",
    "bench.query_latency",
    "bench.cold_start",
    "bench.answer_streaming",
    "bench.retrieval_quality",
]


@pytest.mark.parametrize("name", BENCHES)
def test_bench_module_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert callable(getattr(module, "main", None)) or module.__all__
