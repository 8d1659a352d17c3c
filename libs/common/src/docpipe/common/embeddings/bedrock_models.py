"""Request bodies and response parsing for the Bedrock embedding models we support.

Pure functions of the wire formats (no I/O), so they are testable on their own:

- Cohere Embed v4 (``cohere.embed-v4:0``): up to 96 texts per call, ``output_dimension``
  256/512/1024/1536, ``truncate`` NONE/LEFT/RIGHT, answers ``{"embeddings": {"float": [...]}}``.
- Cohere Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``,
  ``-light-v3``): up to 96 texts of at most 2,048 characters, ``truncate`` NONE/START/END,
  fixed dimensions; without ``embedding_types`` it answers ``{"embeddings": [[...]]}``.
- Titan Text Embeddings v2 (``amazon.titan-embed-text-v2:0``): one text per call (8,192
  tokens, 50,000 characters), ``dimensions`` 256/512/1024, answers ``{"embedding": [...]}``.

Model ids may carry a cross-region inference prefix (``us.``, ``apac.``) or be ARNs;
the family is recognised by substring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from docpipe.common.embeddings.types import InputType
from docpipe.common.exceptions import EmbeddingConfigError, EmbeddingResponseError

__all__ = ["BedrockEmbeddingModel", "Family", "clip_text", "resolve_model"]

Family = Literal["cohere-v3", "cohere-v4", "titan-v2"]

COHERE_MAX_TEXTS = 96
_V4_DIMENSIONS = frozenset({256, 512, 1024, 1536})
_TITAN_DIMENSIONS = frozenset({256, 512, 1024})
# Conservative token estimate for clipping: ~3 ASCII characters per token, and up to
# 2 tokens for any other character (CJK text tokenizes to about one per character).
_ASCII_TOKEN_COST, _OTHER_TOKEN_COST = 1.0 / 3.0, 2.0


def clip_text(text: str, *, max_chars: int, max_tokens: int | None = None) -> str:
    """Cut ``text`` to ``max_chars`` and, if given, to an estimated ``max_tokens``."""
    text = text[:max_chars]
    if max_tokens is None or len(text) * _OTHER_TOKEN_COST <= max_tokens:
        return text
    codepoints = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    cost = np.where(codepoints < 128, _ASCII_TOKEN_COST, _OTHER_TOKEN_COST).cumsum()
    return text[: int(np.searchsorted(cost, max_tokens, side="right"))]


@dataclass(frozen=True)
class BedrockEmbeddingModel:
    """One supported Bedrock embedding model at a given output dimension."""

    family: Family
    model_id: str
    dimensions: int

    @property
    def batch_size(self) -> int:
        """Texts per InvokeModel call."""
        return 1 if self.family == "titan-v2" else COHERE_MAX_TEXTS

    def request_body(self, texts: Sequence[str], *, input_type: InputType) -> dict[str, Any]:
        """The InvokeModel JSON body for one batch (``len(texts) <= batch_size``)."""
        if self.family == "titan-v2":
            (text,) = texts
            return {
                "inputText": clip_text(text, max_chars=50_000, max_tokens=8_000),
                "dimensions": self.dimensions,
                "normalize": True,
            }
        if self.family == "cohere-v3":
            return {
                "texts": [clip_text(t, max_chars=2_048) for t in texts],
                "input_type": input_type,
                "truncate": "END",
            }
        return {
            "texts": [clip_text(t, max_chars=100_000, max_tokens=120_000) for t in texts],
            "input_type": input_type,
            "embedding_types": ["float"],
            "output_dimension": self.dimensions,
            "truncate": "RIGHT",
        }

    def parse_response(self, payload: Mapping[str, Any], *, count: int) -> list[list[float]]:
        """Vectors from an InvokeModel answer; checks their number and length."""
        try:
            if self.family == "titan-v2":
                vectors = [payload["embedding"]]
            else:
                embeddings = payload["embeddings"]
                # v4 (and v3 asked for embedding_types) answer by type; v3 plain a list.
                vectors = embeddings["float"] if isinstance(embeddings, Mapping) else embeddings
        except (KeyError, TypeError) as exc:
            raise EmbeddingResponseError(
                f"{self.model_id}: unexpected response shape, keys {sorted(payload)}"
            ) from exc
        if not isinstance(vectors, list) or len(vectors) != count:
            got = len(vectors) if isinstance(vectors, list) else type(vectors).__name__
            raise EmbeddingResponseError(f"{self.model_id}: expected {count} vectors, got {got}")
        for vector in vectors:
            if not isinstance(vector, list) or len(vector) != self.dimensions:
                size = len(vector) if isinstance(vector, list) else type(vector).__name__
                raise EmbeddingResponseError(
                    f"{self.model_id}: expected {self.dimensions} dimensions, got {size}"
                )
        return [[float(x) for x in vector] for vector in vectors]


def _family(model_id: str) -> Family:
    if "cohere.embed-v4" in model_id:
        return "cohere-v4"
    if "cohere.embed-" in model_id and "-v3" in model_id:
        return "cohere-v3"
    if "amazon.titan-embed-text-v2" in model_id:
        return "titan-v2"
    raise EmbeddingConfigError(
        f"unsupported Bedrock embedding model {model_id!r}: use cohere.embed-v4:0, "
        "a cohere.embed-*-v3 model or amazon.titan-embed-text-v2:0"
    )


def resolve_model(model_id: str, dimensions: int) -> BedrockEmbeddingModel:
    """The model for ``EMBEDDING_MODEL_ID``, refusing dimensions it cannot produce."""
    family = _family(model_id)
    if family == "cohere-v4":
        allowed: frozenset[int] = _V4_DIMENSIONS
    elif family == "titan-v2":
        allowed = _TITAN_DIMENSIONS
    else:
        allowed = frozenset({384 if "light" in model_id else 1024})
    if dimensions not in allowed:
        raise EmbeddingConfigError(
            f"EMBEDDING_DIMENSIONS={dimensions} is not available for {model_id}; "
            f"choose one of {sorted(allowed)}"
        )
    return BedrockEmbeddingModel(family=family, model_id=model_id, dimensions=dimensions)
