"""Offline answerer: quotes the best-matching sentence of the top sources, with citations.

Used when no Bedrock model is configured (local development, tests). It never generates
text: the answer says it is extractive and quotes the sources verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Sequence

from docpipe.common.keywords import CJK_CHAR_CLASS, cjk_tokens
from docpipe.query.answer.language import detect_script
from docpipe.query.answer.types import Answer
from docpipe.query.hits import Hit

__all__ = ["EXTRACTIVE_MODEL", "ExtractiveAnswerer", "best_sentence"]

EXTRACTIVE_MODEL = "extractive"
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_CJK_RUN = re.compile(CJK_CHAR_CLASS + "+")
_WORD = re.compile(r"[^\W_]{2,}")
_MAX_QUOTE = 400


def _terms(text: str) -> set[str]:
    norm = unicodedata.normalize("NFKC", text).casefold()
    terms = set(_WORD.findall(_CJK_RUN.sub(" ", norm)))
    for run in _CJK_RUN.findall(norm):
        terms.update(cjk_tokens(run))
    return terms


def best_sentence(text: str, question: str) -> str:
    """The sentence of ``text`` sharing most terms with ``question`` (the first on ties)."""
    wanted = _terms(question)
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    if not sentences:
        return text.strip()[:_MAX_QUOTE]
    best = max(sentences, key=lambda s: len(_terms(s) & wanted))
    return best if len(best) <= _MAX_QUOTE else best[: _MAX_QUOTE - 1] + "…"


_PREAMBLES = {
    "zh-Hant": "摘錄式回答（未設定語言模型）：以下逐字引用您文件中最相關的段落。",
    "zh-Hans": "摘录式回答（未配置语言模型）：以下逐字引用您文件中最相关的段落。",
}
_PREAMBLE = (
    "Extractive answer (no language model is configured): the most relevant"
    " passages from your documents, quoted verbatim."
)


class ExtractiveAnswerer:
    """Quotes; the preamble is in the question's script (the quotes stay verbatim)."""

    model = EXTRACTIVE_MODEL

    def __init__(self, *, max_passages: int = 3) -> None:
        self.max_passages = max_passages

    def _pieces(self, question: str, sources: Sequence[Hit]) -> list[str]:
        pieces = [_PREAMBLES.get(detect_script(question), _PREAMBLE)]
        for n, hit in enumerate(sources[: self.max_passages], start=1):
            pieces.append(f'\n[{n}] "{best_sentence(hit.text, question)}" ({hit.filename})')
        return pieces

    async def answer(self, *, question: str, sources: Sequence[Hit]) -> Answer:
        text = "".join(self._pieces(question, sources))
        return Answer(text=text, cited=list(sources[: self.max_passages]), model=self.model)

    async def stream(self, *, question: str, sources: Sequence[Hit]) -> AsyncIterator[str]:
        """The same text as :meth:`answer`, one quoted passage at a time."""
        for piece in self._pieces(question, sources):
            yield piece
