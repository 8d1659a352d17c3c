"""Fusing the vector and keyword legs into one ranking.

- Reciprocal Rank Fusion: ``Σ 1 / (k + rank)`` over the legs that returned the chunk;
  it ignores score scales, so it needs no tuning beyond ``k``.
- Weighted: each leg's scores min-max normalised to [0, 1] over its own candidates, then
  ``w · vector + (1 − w) · keyword`` (a leg that missed the chunk contributes 0).
- Complete (score-complete linear fusion): every candidate of either leg gets *both*
  scores — its cosine similarity and its BM25, computed for the chunks a leg did not return
  (:func:`docpipe.query.vector.vector_scores`, :func:`docpipe.query.keyword.keyword_scores`;
  BM25 is 0 without a query term) — then each score is standardised over the union of
  candidates (z-score: the shape of each leg's score distribution, not its scale) and
  combined as ``w · z_vector + (1 − w) · z_keyword``. A leg that missed a chunk no longer
  drags it down with a placeholder: the weaker leg can only re-order what both measure.

Which one is the default was decided on msmarco-5k (docs/benchmarks.md).
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from docpipe.query.hits import Hit

__all__ = ["complete_fusion", "reciprocal_rank_fusion", "weighted_fusion"]


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


def _standardised(scores: Mapping[uuid.UUID, float]) -> dict[uuid.UUID, float]:
    values = list(scores.values())
    if len(values) < 2:
        return dict.fromkeys(scores, 0.0)
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    return {k: (v - mean) / spread if spread > 0 else 0.0 for k, v in scores.items()}


def _relative(scores: Mapping[uuid.UUID, float]) -> dict[uuid.UUID, float]:
    top = max(scores.values(), default=0.0)
    return {k: v / top if top > 0 else 0.0 for k, v in scores.items()}


def complete_fusion(
    hits: Mapping[uuid.UUID, Hit],
    *,
    similarity: Mapping[uuid.UUID, float],
    keyword: Mapping[uuid.UUID, float],
    limit: int,
    vector_weight: float,
    scale: str = "zscore",
) -> list[Hit]:
    """``hits`` (the union of both legs' candidates) ranked by ``w·v + (1−w)·k``.

    ``similarity`` and ``keyword`` hold every candidate's scores (a chunk without a query
    term has no keyword entry: BM25 0). ``scale``: ``zscore`` standardises both over the
    union; ``absolute`` keeps cosine similarity as it is (an absolute scale: a model that
    cannot tell the candidates apart spreads them little) and divides BM25 by the best
    candidate's (BM25 has no absolute scale). Each hit comes back with both signals set.
    """
    ids = list(hits)
    cosines = {i: similarity.get(i, 0.0) for i in ids}
    bm25 = {i: keyword.get(i, 0.0) for i in ids}
    if scale == "absolute":
        zv, zk = cosines, _relative(bm25)
    else:
        zv, zk = _standardised(cosines), _standardised(bm25)
    fused = [
        replace(
            hits[i],
            score=vector_weight * zv[i] + (1 - vector_weight) * zk[i],
            similarity=similarity.get(i),
            keyword_score=keyword.get(i),
        )
        for i in ids
    ]
    fused.sort(key=lambda h: (-h.score, str(h.chunk_id)))
    return fused[:limit]
