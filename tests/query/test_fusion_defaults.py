"""Per-embedder fusion defaults and score-complete fusion (docpipe.query.fusion_defaults,
docpipe.query.fusion.complete_fusion)."""

from __future__ import annotations

import uuid

import pytest

from docpipe.query.fusion import complete_fusion
from docpipe.query.fusion_defaults import embedder_profile, vector_weight_for
from docpipe.query.hits import Hit


def _hit(name: str) -> Hit:
    return Hit(uuid.uuid5(uuid.NAMESPACE_DNS, name), uuid.uuid4(), f"{name}.txt", 1, 1, "", 0.0)


def test_profiles_follow_the_embedding_model() -> None:
    local = embedder_profile(provider="local", model_id="cohere.embed-v4:0")
    assert (local.vector_weight, local.covers_cjk, local.measured) == (0.0, True, True)
    minilm = embedder_profile(
        provider="sentence-transformers", model_id="sentence-transformers/all-MiniLM-L6-v2"
    )
    assert minilm.vector_weight > 0.5 and not minilm.covers_cjk and minilm.measured
    cohere = embedder_profile(provider="bedrock", model_id="cohere.embed-v4:0")
    assert cohere.covers_cjk and not cohere.measured


@pytest.mark.parametrize(
    ("query", "covers", "expected"),
    [
        ("sick leave", False, 0.7),
        ("病假", False, 0.0),
        ("VPN 設定", False, 0.0),
        ("病假", True, 0.7),
    ],
)
def test_a_model_that_does_not_cover_the_script_gets_no_weight(
    query: str, covers: bool, expected: float
) -> None:
    assert vector_weight_for(query, weight=0.7, covers_cjk=covers) == expected


def test_complete_fusion_uses_both_scores_of_every_candidate() -> None:
    a, b, c = _hit("a"), _hit("b"), _hit("c")
    hits = {h.chunk_id: h for h in (a, b, c)}
    similarity = {a.chunk_id: 0.30, b.chunk_id: 0.32, c.chunk_id: 0.90}
    keyword = {a.chunk_id: 12.0, b.chunk_id: 3.0}  # c shares no query term
    names = lambda hs: [h.filename for h in hs]  # noqa: E731
    # Keyword only (w = 0): BM25 order, the term-less chunk last.
    only = complete_fusion(hits, similarity=similarity, keyword=keyword, limit=3,
                           vector_weight=0.0, scale="absolute")  # fmt: skip
    assert names(only) == ["a.txt", "b.txt", "c.txt"]
    assert only[2].keyword_score is None and only[2].similarity == 0.90
    # Absolute scale: close cosines barely move the keyword order; a large one can.
    mixed = complete_fusion(hits, similarity=similarity, keyword=keyword, limit=3,
                            vector_weight=0.7, scale="absolute")  # fmt: skip
    assert names(mixed) == ["c.txt", "a.txt", "b.txt"]
    assert {h.filename: round(h.score, 4) for h in mixed}["a.txt"] == round(0.7 * 0.3 + 0.3, 4)
    z = complete_fusion(hits, similarity=similarity, keyword=keyword, limit=2,
                        vector_weight=0.5, scale="zscore")  # fmt: skip
    assert len(z) == 2
