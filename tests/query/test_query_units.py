"""Pure parts of the query service: fusion, citation parsing, extractive quotes, the
pgvector version check and the query-embedding cache."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from docpipe.common.embeddings import EmbeddingStats
from docpipe.common.exceptions import EmbeddingUnavailable
from docpipe.query.answer.extractive import ExtractiveAnswerer, best_sentence
from docpipe.query.answer.service import relevant_hits
from docpipe.query.answer.sources import cited_sources, format_sources
from docpipe.query.fusion import reciprocal_rank_fusion, weighted_fusion
from docpipe.query.hits import Hit
from docpipe.query.pgvector_support import VectorSupport, parse_version
from docpipe.query.query_embeddings import QueryEmbeddings


def hit(name: str, score: float = 1.0, **kw: float | None) -> Hit:
    return Hit(
        chunk_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        document_id=uuid.uuid4(),
        filename=f"{name}.txt",
        page_start=1,
        page_end=2,
        text=f"text of {name}.",
        score=score,
        **kw,
    )  # type: ignore[arg-type]


def names(hits: Sequence[Hit]) -> list[str]:
    return [h.filename.removesuffix(".txt") for h in hits]


def test_rrf_rewards_agreement_and_keeps_both_signals() -> None:
    vector = [hit("a", 0.9, similarity=0.9), hit("b", 0.8, similarity=0.8)]
    keyword = [hit("b", 7.0, keyword_score=7.0), hit("c", 3.0, keyword_score=3.0)]
    fused = reciprocal_rank_fusion(vector, keyword, limit=3, k=60)
    assert names(fused) == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert (fused[0].similarity, fused[0].keyword_score) == (0.8, 7.0)
    assert len(reciprocal_rank_fusion(vector, keyword, limit=1)) == 1


def test_weighted_fusion_normalises_each_leg() -> None:
    vector = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.1)]
    keyword = [hit("c", 40.0), hit("b", 20.0)]
    assert names(weighted_fusion(vector, keyword, limit=3, vector_weight=0.4)) == ["c", "a", "b"]
    assert names(weighted_fusion(vector, keyword, limit=3, vector_weight=0.9)) == ["a", "b", "c"]
    only = weighted_fusion([], keyword, limit=5)
    assert names(only) == ["c", "b"] and only[0].score == pytest.approx(0.5)


def test_citations_map_markers_to_sources_and_drop_invented_numbers() -> None:
    sources = [hit("one"), hit("two"), hit("three")]
    text = "A [2]. B [1, 3]. C [7]. D [2][0]. E [Source 3]. F [1-2]."
    assert names(cited_sources(text, sources)) == ["two", "one", "three"]
    assert cited_sources("no markers", sources) == []
    assert names(cited_sources("see [2–3]", sources)) == ["two", "three"]
    formatted = format_sources(sources, boundary="source-abc")
    assert '<source-abc n="1" file="one.txt" pages="pages 1-2">\ntext of one.\n</source-abc>' in (
        formatted
    )


def test_relevance_needs_a_keyword_match_or_close_vector() -> None:
    hits = [
        hit("kw", keyword_score=0.1),
        hit("near", similarity=0.5),
        hit("far", similarity=0.1),
        hit("none"),
    ]
    assert names(relevant_hits(hits, min_similarity=0.3)) == ["kw", "near"]


def test_extractive_quotes_the_best_sentence() -> None:
    text = "The office opens at nine. Employees get fifteen vacation days. Parking is free."
    assert best_sentence(text, "how many vacation days") == "Employees get fifteen vacation days."
    assert best_sentence("員工每年有十五天特休。停車免費。", "特休幾天") == "員工每年有十五天特休。"


async def test_extractive_answerer_labels_itself() -> None:
    answer = await ExtractiveAnswerer(max_passages=2).answer(
        question="one", sources=[hit("one"), hit("two"), hit("three")]
    )
    assert answer.model == "extractive" and answer.text.startswith("Extractive answer")
    assert names(answer.cited) == ["one", "two"]


def test_pgvector_versions() -> None:
    assert parse_version("0.6.2") == (0, 6, 2) and parse_version("0.8.0-dev") == (0, 8, 0)
    assert not VectorSupport((0, 6, 2)).iterative_scan
    assert VectorSupport((0, 8, 0)).iterative_scan and VectorSupport((1, 0)).iterative_scan


class CountingEmbedder:
    model_id, dimensions = "counting", 2

    def __init__(self, fail: bool = False) -> None:
        self.stats = EmbeddingStats()
        self.fail = fail

    async def embed(self, texts: Sequence[str], *, input_type: str) -> list[list[float]]:
        assert input_type == "search_query"
        await asyncio.sleep(0.01)
        self.stats.calls += 1
        if self.fail:
            raise EmbeddingUnavailable("down")
        return [[float(len(t)), 1.0] for t in texts]


async def test_query_embeddings_are_cached_lru_and_shared_while_in_flight() -> None:
    embedder = CountingEmbedder()
    cache = QueryEmbeddings(embedder, maxsize=2)
    mine = {"tenant_id": "acme", "subject": "u1"}
    first = await asyncio.gather(*(cache.embed("same", **mine) for _ in range(5)))
    assert embedder.stats.calls == 1 and all(v == first[0] for v in first)
    await cache.embed("b", **mine)
    await cache.embed("same", **mine)  # refreshes "same"
    await cache.embed("c", **mine)  # evicts "b"
    await cache.embed("same", **mine)
    assert embedder.stats.calls == 3
    await cache.embed("b", **mine)
    assert embedder.stats.calls == 4


async def test_query_embeddings_are_private_to_each_caller() -> None:
    """A hit would answer faster: one caller must never hit another's entry, in flight or
    cached (the side channel of issue 14: did anyone search "layoffs" just now?)."""
    embedder = CountingEmbedder()
    cache = QueryEmbeddings(embedder)
    callers = [
        {"tenant_id": "acme", "subject": "u1"},
        {"tenant_id": "acme", "subject": "u2"},  # a colleague
        {"tenant_id": "other", "subject": "u1"},  # the same sub in another tenant
    ]
    await asyncio.gather(*(cache.embed("layoffs", **c) for c in callers))  # in flight
    assert (embedder.stats.calls, cache.hits) == (3, 0)
    for caller in callers:  # cached
        await cache.embed("layoffs", **caller)
    assert (embedder.stats.calls, cache.hits) == (3, 3)  # each hit its own entry only


async def test_failed_query_embeddings_are_not_cached() -> None:
    embedder = CountingEmbedder(fail=True)
    cache = QueryEmbeddings(embedder)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(EmbeddingUnavailable):
            await cache.embed("q", tenant_id="acme")
    assert embedder.stats.calls == 2
