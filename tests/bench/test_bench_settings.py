"""The environments benchmarks give the services still make valid settings.

A benchmark configures the services through environment variables, and the services'
settings validate them together. `bench.retrieval_quality` once stopped at its first
batch (RECORD_CONCURRENCY 10 > DATABASE_POOL_MAX 6) after the processor learned to take
records concurrently; this builds each service's settings from that environment.
"""

from __future__ import annotations

import os

import pytest

from bench import retrieval_quality


@pytest.mark.parametrize("embedder", sorted(retrieval_quality.EMBEDDERS))
def test_retrieval_quality_environment_makes_valid_settings(
    embedder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docpipe.processor.config import ProcessorSettings
    from docpipe.query.config import QuerySettings
    from docpipe.upload.config import UploadSettings

    monkeypatch.setattr(os, "environ", os.environ.copy())  # _environment writes into it
    # What the bench's embedded stack adds (bench._stack.Stack.database_env and aws_env)
    stack = {
        "DATABASE_URL": "postgresql://postgres@/docpipe?host=/tmp/bench-pg",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "DOCUMENTS_BUCKET": "bench-documents",
        "INGEST_QUEUE_URL": "http://127.0.0.1:1/123456789012/bench-ingest",
    }
    retrieval_quality._environment(embedder, stack)
    processor = ProcessorSettings()
    assert processor.record_concurrency <= processor.database_pool_max
    QuerySettings()
    UploadSettings()
