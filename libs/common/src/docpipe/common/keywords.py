"""Application tokenizer for the keyword leg, identical at index and query time.

PostgreSQL's text-search parser does not segment Chinese or Japanese, and how it
classifies CJK code points depends on the database locale: pgserver's ``C.UTF-8``
drops U+3099 and U+3231 that a ``C`` database keeps, and Aurora runs ``en_US.UTF-8``.
So the application splits text in two:

- the **Latin part** (everything that is not CJK) is left to Postgres'
  ``english`` configuration, which stems and removes stop words;
- each **CJK run** (Han, Hiragana, Katakana, Bopomofo, Hangul) becomes overlapping
  character bigrams (a one-character run becomes its unigram), each written as an
  ASCII token — ``k`` plus five hex digits per code point (``員工`` → ``k054e105de5``)
  — indexed verbatim by the ``simple`` configuration in any locale.

Both parts are NFKC-normalised first, so full-width ``ＡＢＣ`` matches ``abc`` and
half-width katakana matches full-width. Chinese is then **folded** character by character
to Simplified (:func:`fold_chinese`, OpenCC's ``t2s`` tables), so 請假 and 请假 become the
same bigram at index and query time alike. Folding is per character, not per phrase, on
purpose: a phrase dictionary converts a character differently depending on its
neighbours, and the index and the query must fold every character identically (the
folded text is only ever matched, never shown). Migration ``0004_chat`` re-folded the
chunks indexed before.

Queries OR their terms (Latin and CJK) so partial matches still match and
:func:`rank_sql` orders them by how much of the query they contain.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "CJK_CHAR_CLASS",
    "KeywordText",
    "cjk_tokens",
    "fold_chinese",
    "keyword_text",
    "rank_sql",
    "tsquery_sql",
    "tsvector_sql",
]

# Inclusive code point ranges treated as CJK (one "run" = consecutive such characters).
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x3038, 0x303C),
    (0x3041, 0x3096),  # Hiragana
    (0x309D, 0x309F),
    (0x30A1, 0x30FA),  # Katakana (the middle dot U+30FB is punctuation)
    (0x30FC, 0x30FF),  # prolonged sound mark, iteration marks
    (0x3105, 0x312F),  # Bopomofo
    (0x3131, 0x318E),  # Hangul compatibility Jamo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x323AF),  # CJK extensions B–H
)

#: A regular-expression character class matching one CJK character.
CJK_CHAR_CLASS = "[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _CJK_RANGES) + "]"
_CJK_RUN = re.compile(CJK_CHAR_CLASS + "+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class KeywordText:
    """The two inputs of :func:`tsvector_sql` / :func:`tsquery_sql`."""

    latin: str
    """Normalised text with CJK runs blanked out (for the ``english`` configuration)."""
    cjk: str
    """Space-separated ASCII bigram tokens (for the ``simple`` configuration)."""


@cache
def _converter() -> Any:
    import opencc  # the `zh` extra of docpipe-common (processor and query)

    return opencc.OpenCC("t2s")


class _FoldTable(dict[int, str]):
    """``str.translate`` table filled on first sight of each code point.

    A character maps to its Simplified form when OpenCC converts it to exactly one other
    character, repeated until it stops changing (薴 → 苧 → 苎), so folding is idempotent.
    """

    def __missing__(self, code_point: int) -> str:
        folded = chr(code_point)
        for _ in range(4):
            converted = _converter().convert(folded)
            if len(converted) != 1 or converted == folded:
                break
            folded = converted
        self[code_point] = folded
        return folded


_FOLD = _FoldTable()


def fold_chinese(text: str) -> str:
    """``text`` with each Traditional Chinese character replaced by its Simplified form.

    Meant for CJK runs (the keyword index and queries); other characters pass unchanged.
    """
    return text.translate(_FOLD)


def _token(chars: str) -> str:
    return "k" + "".join(f"{ord(c):05x}" for c in chars)


def cjk_tokens(run: str) -> list[str]:
    """Tokens of one CJK run, folded: overlapping bigrams, or the unigram of one character."""
    run = fold_chinese(run)
    if len(run) == 1:
        return [_token(run)]
    return [_token(run[i : i + 2]) for i in range(len(run) - 1)]


def keyword_text(text: str) -> KeywordText:
    """Split ``text`` into its Latin part and its CJK bigram tokens."""
    norm = unicodedata.normalize("NFKC", text).replace("\x00", " ")
    tokens: list[str] = []
    for run in _CJK_RUN.findall(norm):
        tokens.extend(cjk_tokens(run))
    latin = _SPACE.sub(" ", _CJK_RUN.sub(" ", norm)).strip()
    return KeywordText(latin=latin, cjk=" ".join(tokens))


def tsvector_sql(latin_param: str, cjk_param: str) -> str:
    """SQL for the indexed ``tsvector`` of a chunk, e.g. ``tsvector_sql("$5", "$6")``.

    The arguments are SQL expressions (placeholders), never user input.
    """
    return f"(to_tsvector('english', {latin_param}) || to_tsvector('simple', {cjk_param}))"


def _any_term(config: str, param: str) -> str:
    # plainto_tsquery parses exactly like to_tsvector and ANDs the terms; ' & ' can only
    # occur between operands of its output, so replacing it ORs them (phrases stay).
    return f"replace(plainto_tsquery('{config}', {param})::text, ' & ', ' | ')::tsquery"


def tsquery_sql(latin_param: str, cjk_param: str) -> str:
    """SQL for the query's ``tsquery``: any English term OR any CJK bigram.

    An empty part contributes nothing; an entirely empty query matches no row.
    """
    return f"({_any_term('english', latin_param)} || {_any_term('simple', cjk_param)})"


def rank_sql(vector_sql: str, query_sql: str) -> str:
    """SQL ranking a match: rows containing more of the query's terms rank higher.

    ``ts_rank`` normalisation 1 divides by 1 + log(document length), so long chunks
    do not win merely by containing more words.
    """
    return f"ts_rank({vector_sql}, {query_sql}, 1)"
