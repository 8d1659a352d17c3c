"""Follow-up questions rewritten into standalone queries before retrieval.

"Does it need a certificate?" or "那病假呢？" mean nothing to a search engine on their own.
With Bedrock (:class:`BedrockRewriter`) the model rewrites the question with the
conversation's recent turns, in the question's language and script. Offline
(:class:`HeuristicRewriter`, the local stack's) a documented heuristic does it:

1. A question is a **follow-up** when the conversation has turns and the question either
   refers back (English pronouns and openers such as *it, that, they, those, what about,
   and…*; Chinese 那/那麼, 它, 這個/那個, 該, 還有, a trailing 呢), or is short: at most
   three words of content in English, at most six Chinese characters.
2. A follow-up's standalone query is the previous turn's standalone query followed by the
   question ("How many sick days do I get? Does it need a certificate?"). The previous
   standalone query already carries the subject, so chains of follow-ups keep it; it is
   cut to its last ``max_chars`` characters, keeping the start of the topic when possible.
3. Anything else is standalone as it is.

Retrieval then ranks chunks matching both the subject and the new question first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Protocol

from docpipe.common.keywords import CJK_CHAR_CLASS
from docpipe.query.conversations import StoredTurn

__all__ = ["BedrockRewriter", "HeuristicRewriter", "Rewriter", "is_follow_up"]

_CJK = re.compile(CJK_CHAR_CLASS)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_EN_REFERENCES = frozenset(
    "it its it's that this these those they them their theirs there he him his she her"
    " one ones same such".split()
)
_EN_OPENERS = ("and ", "what about", "how about", "also ", "what if", "but ", "then ", "so ")
_EN_STOP = frozenset(
    "a an the is are was were be do does did can could should would will i me my we our you"
    " your to of in on for with at by from about what which who when where how why any some"
    " need needs have has had get gets please tell".split()
)
_ZH_REFERENCES = ("它", "這個", "这个", "那個", "那个", "該", "该", "此", "其", "上述")
_ZH_OPENERS = ("那", "那麼", "那么", "還有", "还有", "另外", "而", "然後", "然后", "至於", "至于")
_MAX_CHARS = 400


def _content_words(question: str) -> list[str]:
    words = _WORD.findall(question.casefold())
    return [w for w in words if w not in _EN_STOP]


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on what was said before (see the module docstring)."""
    text = unicodedata.normalize("NFKC", question).strip()
    cjk = _CJK.findall(text)
    if cjk:
        stripped = text.rstrip("？?。！!… ")
        if stripped.endswith("呢") or text.startswith(_ZH_OPENERS):
            return True
        if any(ref in text for ref in _ZH_REFERENCES):
            return True
        return len(cjk) <= 6
    lowered = text.casefold()
    if lowered.startswith(_EN_OPENERS):
        return True
    words = _WORD.findall(lowered)
    if any(w in _EN_REFERENCES for w in words):
        return True
    return len(_content_words(text)) <= 3


class Rewriter(Protocol):
    async def rewrite(self, *, question: str, history: Sequence[StoredTurn]) -> str:
        """The standalone query for ``question`` after ``history`` (oldest turn first)."""
        ...


class HeuristicRewriter:
    """The offline rewriter (module docstring); no model, deterministic."""

    def __init__(self, *, max_chars: int = _MAX_CHARS) -> None:
        self.max_chars = max_chars

    async def rewrite(self, *, question: str, history: Sequence[StoredTurn]) -> str:
        question = question.strip()
        if not history or not is_follow_up(question):
            return question
        context = history[-1].standalone_query.strip()
        room = max(0, self.max_chars - len(question) - 1)
        if len(context) > room:
            context = context[:room].rstrip()
        return f"{context} {question}".strip()


REWRITE_PROMPT = (
    "You rewrite the user's latest question into one standalone search query, using the"
    " conversation so far to resolve references (it, that, 那, 呢, …) and omitted subjects."
    " Keep the language and the script of the latest question (Traditional Chinese stays"
    " Traditional, Simplified stays Simplified). If the question is already standalone,"
    " repeat it unchanged. Answer with the query only: no quotes, no explanation."
)


class BedrockRewriter:
    """Rewrites with a Converse model (only when there is history)."""

    def __init__(self, *, runtime: object, model_id: str, max_history_chars: int = 4000) -> None:
        self.runtime = runtime
        self.model = model_id
        self.max_history_chars = max_history_chars

    def _transcript(self, history: Sequence[StoredTurn]) -> str:
        lines: list[str] = []
        for turn in history:
            lines.append(f"User: {turn.question.strip()}")
            lines.append(f"Assistant: {turn.answer.strip()[:600]}")
        text = "\n".join(lines)
        return text[-self.max_history_chars :]

    async def rewrite(self, *, question: str, history: Sequence[StoredTurn]) -> str:
        if not history:
            return question.strip()
        from docpipe.common.bedrock_runtime import (
            BedrockRuntime,
            RetryPolicy,
            converse,
            user_message,
        )

        assert isinstance(self.runtime, BedrockRuntime)
        prompt = (
            f"Conversation so far:\n{self._transcript(history)}\n\n"
            f"Latest question: {question.strip()}\n\nStandalone query:"
        )
        result = await converse(
            client=await self.runtime.client(),
            model_id=self.model,
            system=REWRITE_PROMPT,
            messages=[user_message(prompt)],
            max_tokens=200,
            temperature=0.0,
            policy=RetryPolicy(max_retries=2, max_delay=2.0),
        )
        rewritten = " ".join(result.text.split()).strip("\"'“”「」 ")
        return rewritten[:_MAX_CHARS] or question.strip()
