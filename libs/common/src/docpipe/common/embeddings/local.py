"""Deterministic feature-hashing embedder: lexical, dependency-light, for development and tests.

Features are word unigrams and bigrams (after NFKC + casefold) and, for Chinese/Japanese
runs that have no spaces to split on, character bigrams. Each feature is hashed with
BLAKE2b (stable across processes, unlike ``hash()``) to a slot and a sign; the signed
counts are L2-normalised. Texts sharing words therefore have a positive cosine
similarity; it is not semantic.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from docpipe.common.embeddings.types import EmbeddingStats, InputType

__all__ = ["LOCAL_MODEL_ID", "LocalHashEmbedder", "hashed_features"]

LOCAL_MODEL_ID = "local-hash-v1"

# Han (incl. extension A, compatibility, supplementary planes), hiragana, katakana.
_CJK = (
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_CJK_RUN = re.compile(f"([{_CJK}]+)")
_WORD = re.compile(r"[^\W_]+")
# Batches larger than this are hashed in a worker thread so the event loop stays responsive.
_THREAD_THRESHOLD = 64


def hashed_features(text: str) -> Iterator[str]:
    """Yield the features of ``text``: words, word bigrams, and CJK character bigrams."""
    normalised = unicodedata.normalize("NFKC", text).casefold()
    for i, segment in enumerate(_CJK_RUN.split(normalised)):
        if not segment:
            continue
        if i % 2:  # odd segments are the captured CJK runs
            if len(segment) == 1:
                yield segment
            else:
                yield from map(str.__add__, segment, segment[1:])
            continue
        words = _WORD.findall(segment)
        yield from words
        yield from map(" ".join, zip(words, words[1:], strict=False))


@lru_cache(maxsize=1 << 18)
def _slot(feature: str, dimensions: int) -> int:
    """Signed slot of a feature: ``index + 1`` or ``-(index + 1)``."""
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    index = (digest >> 1) % dimensions
    return index + 1 if digest & 1 else -(index + 1)


def _embed_batch(texts: Sequence[str], dimensions: int) -> list[list[float]]:
    """Hash a batch into one (len(texts), dimensions) matrix with a single bincount."""
    flat: list[int] = []
    signs: list[float] = []
    counts: list[int] = []
    for row, text in enumerate(texts):
        offset = row * dimensions
        before = len(flat)
        for feature in hashed_features(text):
            slot = _slot(feature, dimensions)
            flat.append(offset + abs(slot) - 1)
            signs.append(1.0 if slot > 0 else -1.0)
        counts.append(len(flat) - before)
    matrix: npt.NDArray[np.float64] = np.bincount(
        np.asarray(flat, dtype=np.int64),
        weights=np.asarray(signs, dtype=np.float64),
        minlength=len(texts) * dimensions,
    ).reshape(len(texts), dimensions)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    result: list[list[float]] = matrix.tolist()
    return result


class LocalHashEmbedder:
    """Feature-hashing embedder (``EMBEDDING_PROVIDER=local``).

    Texts without any word or CJK character (empty, punctuation only) embed to the
    zero vector. ``input_type`` is accepted and ignored: queries and documents share
    one space.
    """

    def __init__(self, *, dimensions: int) -> None:
        self.model_id = LOCAL_MODEL_ID
        self.dimensions = dimensions
        self.stats = EmbeddingStats()

    async def embed(self, texts: Sequence[str], *, input_type: InputType) -> list[list[float]]:
        if not texts:
            return []
        if len(texts) > _THREAD_THRESHOLD:
            vectors = await asyncio.to_thread(_embed_batch, list(texts), self.dimensions)
        else:
            vectors = _embed_batch(texts, self.dimensions)
        self.stats.calls += 1
        self.stats.texts += len(texts)
        return vectors

    async def aclose(self) -> None:
        """Nothing to release; present so every embedder can be closed the same way."""
