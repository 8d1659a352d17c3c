"""Deterministic feature-hashing embedder: lexical, dependency-light, for development and tests.

Features are word unigrams and bigrams (after NFKC + casefold) and, for Chinese/Japanese
runs that have no spaces to split on, character bigrams. Every token is hashed once
with 64-bit BLAKE2b (stable across processes, unlike ``hash()``; cached, since tokens
repeat); a bigram's hash is a SplitMix64 mix of its two token hashes, computed for the
whole batch in numpy. A feature hash picks a slot and a sign; the signed counts are
L2-normalised. Texts sharing words therefore have a positive cosine similarity; it
is not semantic.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from docpipe.common.embeddings.types import EmbeddingStats, InputType

__all__ = ["LOCAL_MODEL_ID", "LocalHashEmbedder", "segments"]

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
_U64 = np.uint64
_MIX_A, _MIX_B, _PAIR = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB), _U64(0x9E3779B97F4A7C15)

U64Array = npt.NDArray[np.uint64]


def segments(text: str) -> list[tuple[bool, list[str]]]:
    """Split ``text`` into ``(is_cjk, tokens)`` runs: words elsewhere, characters in CJK runs.

    Bigrams are formed inside a run only; a CJK run of one character is kept as a unigram.
    """
    runs: list[tuple[bool, list[str]]] = []
    for i, part in enumerate(_CJK_RUN.split(_nfkc(text).casefold())):
        if i % 2:  # odd parts are the captured CJK runs
            runs.append((True, list(part)))
        elif part:
            words = _WORD.findall(part)
            if words:
                runs.append((False, words))
    return runs


def _nfkc(text: str) -> str:
    """NFKC outside CJK runs (full-width Latin, half-width kana); CJK runs are left as they are.

    Normalising long Chinese text is slow and changes nothing in its ideographs; the
    punctuation between them (full-width commas) is what defeats the quick check.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    parts = _CJK_RUN.split(text)
    parts[0::2] = [unicodedata.normalize("NFKC", part) for part in parts[0::2]]
    return "".join(parts)


@lru_cache(maxsize=1 << 17)  # ~20 MB at most; a corpus vocabulary fits
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def _mix(a: U64Array, b: U64Array) -> U64Array:
    """SplitMix64 finaliser over ``a * golden + b``: an order-sensitive pair hash."""
    z = a * _PAIR + b
    z ^= z >> _U64(30)
    z *= _MIX_A
    z ^= z >> _U64(27)
    z *= _MIX_B
    z ^= z >> _U64(31)
    return z


def _feature_hashes(texts: Sequence[str]) -> tuple[U64Array, npt.NDArray[np.int64]]:
    """All feature hashes of a batch with the row (text index) each belongs to."""
    hashes: list[int] = []
    lengths: list[int] = []
    unigram: list[bool] = []
    rows: list[int] = []
    for row, text in enumerate(texts):
        for is_cjk, tokens in segments(text):
            hashes.extend(map(_token_hash, tokens))
            lengths.append(len(tokens))
            unigram.append(not is_cjk or len(tokens) == 1)
            rows.append(row)
    if not hashes:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    token_hash = np.array(hashes, dtype=np.uint64)
    seg_len = np.array(lengths, dtype=np.int64)
    token_row = np.repeat(np.array(rows, dtype=np.int64), seg_len)
    keep_unigram = np.repeat(np.array(unigram, dtype=bool), seg_len)
    pair_ok = np.ones(len(token_hash), dtype=bool)
    pair_ok[np.cumsum(seg_len) - 1] = False  # no bigram across a run's end
    pair_ok = pair_ok[:-1]
    bigram = _mix(token_hash[:-1][pair_ok], token_hash[1:][pair_ok])
    features = np.concatenate([token_hash[keep_unigram], bigram])
    feature_rows = np.concatenate([token_row[keep_unigram], token_row[:-1][pair_ok]])
    return features, feature_rows


def _embed_batch(texts: Sequence[str], dimensions: int) -> list[list[float]]:
    """Hash a batch into one (len(texts), dimensions) matrix with a single bincount."""
    features, rows = _feature_hashes(texts)
    slots = ((features >> _U64(1)) % _U64(dimensions)).astype(np.int64)
    signs = np.where(features & _U64(1), 1.0, -1.0)
    counts = np.bincount(
        rows * dimensions + slots, weights=signs, minlength=len(texts) * dimensions
    )
    matrix = counts.astype(np.float64, copy=False).reshape(len(texts), dimensions)
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

    #: Hashing three chunks takes ~0.1 ms; their cache lookup and write took ~2.5 ms of
    #: database CPU and eight round trips (docs/benchmarks.md §7).
    cache_embeddings = False

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
