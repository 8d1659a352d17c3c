"""Hypothesis fuzz of the chunker and the keyword tokenizer: no crash, and nothing dropped.

"Accounted for": every non-whitespace character of the input pages appears in some chunk,
in order — the chunks, overlaps removed, spell the normalised text. (The chunker collapses
whitespace and drops line breaks inside CJK text by design, so whitespace is compared
collapsed.) Alphabets lean on CJK, emoji sequences, combining marks and separators.
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docpipe.common.keywords import _CJK_RUN, fold_chinese, keyword_text
from docpipe.processor.chunking import chunk_pages
from docpipe.processor.extraction import PageText

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PIECES = [
    "員工", "請假", "規定", "。", "！", "；", "、", "「", "」", "日本語", "ひらがな", "カタカナ",
    "한국어", "😀", "👩‍💻", "👨‍👩‍👧‍👦", "🇹🇼", "👍🏽", "e\u0301", "\u200d", "\ufe0f",
    "Leave", "policy", ".", "!", "?", " ", "  ", "\n", "\n\n", "\t", "\f", "\r\n", "\u3000",
    "\u00a0", "ＡＢＣ", "ﾃｽﾄ", "𠀀", "\U0002a6d6", "a" * 50, "長" * 40,
]  # fmt: skip
_TEXT = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=20)), max_size=120).map(
    "".join
)


def _visible(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _covers(chunks: list[str], text: str) -> bool:
    """Whether the chunks tile ``text`` in order: each starts after the previous one's
    start and no later than its end, the first at 0 and the last ending at the end."""
    starts = {0}
    for index, chunk in enumerate(chunks):
        nxt = set()
        for start in starts:
            if text.startswith(chunk, start):
                end = start + len(chunk)
                if index == len(chunks) - 1:
                    if end == len(text):
                        return True
                    continue
                following = chunks[index + 1]
                nxt |= {s for s in range(start + 1, end + 1) if text.startswith(following, s)}
        starts = nxt
    return not chunks and not text


@FAST
@given(
    pages=st.lists(_TEXT, min_size=1, max_size=5),
    target=st.integers(min_value=40, max_value=600),
    overlap_share=st.floats(min_value=0, max_value=0.45),
)
def test_chunker_accounts_for_every_character(
    pages: list[str], target: int, overlap_share: float
) -> None:
    overlap = int(target * overlap_share)
    chunks = chunk_pages(
        [PageText(number=n, text=t) for n, t in enumerate(pages, start=1)],
        target_chars=target,
        overlap_chars=overlap,
    )
    expected = _visible("".join(pages))
    # Every visible character, in order: the chunks (overlaps aside) tile the input.
    assert _covers([_visible(c.text) for c in chunks], expected)
    for index, chunk in enumerate(chunks):
        assert chunk.ordinal == index
        assert 0 < len(chunk.text) <= target
        assert 1 <= chunk.page_start <= chunk.page_end <= len(pages)
        assert chunk.text == chunk.text.strip()


@FAST
@given(text=_TEXT)
def test_keyword_tokenizer_never_crashes_and_keeps_every_cjk_character(text: str) -> None:
    words = keyword_text(text)
    assert words.latin == words.latin.strip()
    assert all(token.startswith("k") and token[1:].isalnum() for token in words.cjk.split())
    # CJK runs are folded to Simplified before they become tokens (請 → 请).
    norm = _CJK_RUN.sub(lambda run: fold_chinese(run.group(0)), unicodedata.normalize("NFKC", text))
    decoded = "".join(
        chr(int(token[i : i + 5], 16))
        for token in words.cjk.split()
        for i in range(1, len(token), 5)
    )
    # Every CJK character of the input is in some token, every token's characters are CJK.
    for char in set(decoded):
        assert char in norm
    latin_visible = _visible(words.latin)
    for char in _visible(norm.replace("\x00", " ")):
        assert char in decoded or char in latin_visible
