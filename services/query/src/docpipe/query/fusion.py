"""Fusing the vector and keyword legs into one ranking.

- Reciprocal Rank Fusion: ``Σ 1 / (k + rank)`` over the legs that returned the chunk;
  it ignores score scales, so it needs no tuning beyond ``k``.
- Weighted: each leg's scores min-max normalised to [0, 1] over its own candidates, then
  ``w · vector + (1 − w) · keyword`` (a leg that missed the chunk contributes 0).

Which one is the default was decided on msmarco-5k (docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from docpipe.query.hits import Hit

__all__ = ["reciprocal_rank_fusion", "weighted_fusion"]


def _merge(
    vector: Sequence[Hit],
    keyword: Sequence[Hit],
    score: Callable[[uuid.UUID], float],
    limit: int,
) -> list[Hit]:
    """One hit per chunk carrying both legs' signals, ordered by ``score``."""
    merged: dict[uuid.UUID, Hit] = {}
    for hit in vector:
        merged[hit.chunk_id] = hit
    for hit in keyword:
        seen = merged.get(hit.chunk_id)
        merged[hit.chunk_id] = (
            hit if seen is None else replace(seen, keyword_score=hit.keyword_score)
        )
    fused = [hit.rescored(score(chunk_id)) for chunk_id, hit in merged.items()]
    fused.sort(key=lambda h: (-h.score, str(h.chunk_id)))
    return fused[:limit]


def reciprocal_rank_fusion(
    vector: Sequence[Hit], keyword: Sequence[Hit], *, limit: int, k: int = 60
) -> list[Hit]:
    scores: dict[uuid.UUID, float] = {}
    for leg in (vector, keyword):
        for rank, hit in enumerate(leg, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
    return _merge(vector, keyword, scores.__getitem__, limit)


def _normalised(leg: Sequence[Hit]) -> dict[uuid.UUID, float]:
    if not leg:
        return {}
    high = max(h.score for h in leg)
    low = min(h.score for h in leg)
    span = high - low
    return {h.chunk_id: (h.score - low) / span if span > 0 else 1.0 for h in leg}


def weighted_fusion(
    vector: Sequence[Hit], keyword: Sequence[Hit], *, limit: int, vector_weight: float = 0.5
) -> list[Hit]:
    v, kw = _normalised(vector), _normalised(keyword)

    def score(chunk_id: uuid.UUID) -> float:
        return vector_weight * v.get(chunk_id, 0.0) + (1 - vector_weight) * kw.get(chunk_id, 0.0)

    return _merge(vector, keyword, score, limit)
