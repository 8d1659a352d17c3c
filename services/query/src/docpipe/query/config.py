"""Query service settings (environment variables; see docs/configuration.md)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.common.settings import HttpServiceSettings

__all__ = ["AnswerProvider", "FusionMethod", "QuerySettings"]

AnswerProvider = Literal["auto", "bedrock", "extractive"]
FusionMethod = Literal["rrf", "weighted", "complete"]
FusionScale = Literal["zscore", "absolute"]


class QuerySettings(HttpServiceSettings):
    """Retrieval and answer tuning. Defaults were chosen by measurement (docs/benchmarks)."""

    database_role: ClassVar[str | None] = SERVICE_ROLES["query"]

    max_query_chars: int = Field(default=2000, ge=16, le=100_000)

    # Vector leg (pgvector HNSW). ef_search is raised for filtered searches on pgvector < 0.8;
    # filtered sets up to exact_search_max_rows chunks are searched exactly (no index).
    # 100, not pgvector's 40: on MiniLM vectors at 100k chunks recall@10 of in-corpus
    # passages is 0.964 at 100 vs 0.912 at 40, for ~2 ms (docs/benchmarks.md §4).
    ef_search: int = Field(default=100, ge=1, le=1000)
    filtered_ef_search: int = Field(default=400, ge=1, le=1000)
    exact_search_max_rows: int = Field(default=20_000, ge=0)
    query_cache_size: int = Field(default=1024, ge=0)

    # Keyword leg (BM25 in SQL), in keyword and hybrid searches: when every query term is
    # common, at most this many matching chunks are scored (docpipe.query.keyword explains
    # which). Time grows linearly with it (~8 µs a candidate) and quality with it: on
    # msmarco-5k a budget of 1 % of the chunks costs keyword nDCG@10 0.022 and hybrid 0.006
    # against scoring every match (docs/benchmarks.md §4, §5).
    keyword_candidate_budget: int = Field(default=1000, ge=10, le=1_000_000)

    # Fusion of the two legs: each leg contributes `candidates_per_leg` rows at most.
    # Weighted fusion with w = 0.6 measured best on msmarco-5k with MiniLM (docs/api.md);
    # re-tune VECTOR_WEIGHT with bench/retrieval_quality.py for another embedding model.
    fusion: FusionMethod = "complete"
    rrf_k: int = Field(default=60, ge=1)
    vector_weight: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="the vector leg's weight in hybrid fusion; unset: the embedding model's"
        " measured default (docpipe.query.fusion_defaults)",
    )
    candidates_per_leg: int = Field(default=50, ge=1, le=500)
    fusion_scale: FusionScale = "absolute"

    # Answers (POST /v1/answer).
    answer_provider: AnswerProvider = "auto"
    answer_model_id: str = "amazon.nova-pro-v1:0"
    answer_max_tokens: int = Field(default=1024, ge=16, le=8192)
    answer_temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    # Follow-ups: rewritten into a standalone query with the conversation's history by this
    # Converse model (default: ANSWER_MODEL_ID) when answers come from Bedrock, else by the
    # documented heuristic (docpipe.query.answer.rewrite).
    rewrite_model_id: str | None = None
    answer_min_similarity: float = Field(
        default=0.3,
        ge=-1.0,
        le=1.0,
        description="a chunk with no keyword match counts as relevant from this cosine"
        " similarity up; below it the answer says nothing relevant was found",
    )

    @property
    def answers_with_bedrock(self) -> bool:
        """Bedrock Converse when asked for, or by default when embeddings come from Bedrock."""
        if self.answer_provider == "auto":
            return self.embedding_provider == "bedrock"
        return self.answer_provider == "bedrock"
