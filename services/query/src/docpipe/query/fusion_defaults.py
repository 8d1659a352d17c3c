"""How much the vector leg counts in hybrid search, per embedding model, chosen by
measurement (bench/retrieval_quality.py on drcd-dev and msmarco-5k; docs/benchmarks.md §5).

Two properties of the embedder decide it:

- **how informative its similarities are.** The local feature-hashing embedder is lexical:
  its vectors restate the keyword match, worse. At every weight tried (0.05 to 0.8) it
  lowered the ranking on both datasets, so its weight is 0: hybrid then orders chunks by
  BM25 and the vector leg only supplies the chunks that share no query term (after every
  keyword match, by cosine similarity), where a keyword search would return nothing.
  all-MiniLM-L6-v2 is semantic: on English it beats BM25, and fused with the weight
  below beats both legs.
- **which scripts it was trained on.** all-MiniLM-L6-v2 learned English only; on Chinese
  questions its similarities are close to noise (drcd-dev MRR@10 0.18 against keyword
  0.95), so for a query containing CJK characters the vector leg's weight is 0 with it.

Bedrock's embedders (Cohere Embed v4, Titan Text v2) are multilingual and semantic; they
could not be measured here (no Bedrock), so they get the balanced 0.5 until measured
with ``bench/retrieval_quality.py`` on a deployment. ``VECTOR_WEIGHT`` overrides the
weight for any model; the language rule still applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docpipe.common.keywords import CJK_CHAR_CLASS

__all__ = ["EmbedderProfile", "embedder_profile", "vector_weight_for"]

_CJK = re.compile(CJK_CHAR_CLASS)


@dataclass(frozen=True)
class EmbedderProfile:
    vector_weight: float
    covers_cjk: bool
    measured: bool


def embedder_profile(*, provider: str, model_id: str) -> EmbedderProfile:
    """The defaults for the configured embedding model (see the module docstring)."""
    if provider == "local":
        return EmbedderProfile(vector_weight=0.0, covers_cjk=True, measured=True)
    if provider == "sentence-transformers" and "all-minilm" in model_id.lower():
        return EmbedderProfile(vector_weight=0.7, covers_cjk=False, measured=True)
    return EmbedderProfile(vector_weight=0.5, covers_cjk=True, measured=False)


def vector_weight_for(query: str, *, weight: float, covers_cjk: bool) -> float:
    """The vector leg's weight for this query: 0 when the model does not cover its script."""
    if not covers_cjk and _CJK.search(query):
        return 0.0
    return weight
