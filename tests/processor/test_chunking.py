"""Chunking: boundaries, overlap, page provenance, CJK and emoji, and properties."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docpipe.processor.chunking import Chunk, chunk_pages
from docpipe.processor.extraction import PageText

SENTENCES = [
    "Employees accrue annual leave from their first day of service.",
    "Requests must be submitted three working days in advance!",
    "Is unused leave carried over to the next year?",
    "Managers approve requests within two days.",
]
ZH = "員工請假應於三日前提出申請。特休假依勞動基準法辦理！未休完之特休假是否可以遞延？"


def english(paragraphs: int) -> str:
    return "\n\n".join(
        " ".join(SENTENCES[(p + i) % 4] for i in range(p % 4 + 2)) for p in range(paragraphs)
    )


def non_space(text: str) -> Counter[str]:
    return Counter(c for c in text if not c.isspace())


def test_short_text_is_one_chunk_with_its_hash() -> None:
    chunks = chunk_pages([PageText(number=1, text="  Hello\t\tworld.  \n")])
    assert chunks == [
        Chunk(
            ordinal=0,
            text="Hello world.",
            page_start=1,
            page_end=1,
            content_sha256=hashlib.sha256(b"Hello world.").hexdigest(),
        )
    ]


def test_chunks_end_at_sentences_and_overlap() -> None:
    chunks = chunk_pages([PageText(number=1, text=english(60))], target_chars=500)
    assert len(chunks) > 10
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert 200 <= len(prev.text) <= 500
        assert prev.text.endswith((".", "!", "?"))
        assert nxt.text[0].isupper()  # starts at a sentence
        assert prev.text.endswith(nxt.text[:20]) or nxt.text[:20] in prev.text  # overlap
        overlap = len(prev.text) - prev.text.rindex(nxt.text[:20])
        assert 0 < overlap <= 200


def test_paragraph_breaks_are_preferred() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 60 for i in range(10)]  # ~320 chars each
    chunks = chunk_pages([PageText(number=1, text="\n\n".join(paragraphs))], target_chars=700)
    for chunk in chunks[:-1]:
        assert chunk.text.endswith("word")  # the end of a paragraph, not mid-paragraph


def test_cjk_without_spaces_splits_at_cjk_punctuation() -> None:
    chunks = chunk_pages([PageText(number=1, text=ZH * 40)], target_chars=300, overlap_chars=60)
    assert len(chunks) > 5
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert len(prev.text) <= 300
        assert prev.text.endswith(("。", "！", "？"))
        assert " " not in prev.text
        assert prev.text.endswith(nxt.text[:5]) or nxt.text[:5] in prev.text[-60:]


def test_unpunctuated_cjk_and_very_long_lines_are_cut_hard() -> None:
    text = "特休假" * 2000 + " " + "x" * 5000
    chunks = chunk_pages([PageText(number=1, text=text)], target_chars=1000, overlap_chars=100)
    assert all(0 < len(c.text) <= 1000 for c in chunks)
    assert non_space("".join(c.text for c in chunks)) >= non_space(text)


def test_cut_never_splits_emoji_sequences_or_combining_marks() -> None:
    family = "👩\u200d👩\u200d👧\u200d👦"
    text = (family + "👍🏽" + "e\u0301" + "❤\ufe0f") * 300
    chunks = chunk_pages([PageText(number=1, text=text)], target_chars=101, overlap_chars=20)
    for chunk in chunks:
        assert not chunk.text.startswith(("\u200d", "\ufe0f", "\u0301", "🏽"))
        assert not chunk.text.endswith("\u200d")
        chunk.text.encode()  # valid UTF-8 throughout


def test_pages_are_tracked_across_boundaries() -> None:
    pages = [
        PageText(number=5, text="Alpha section. " * 30),
        PageText(number=6, text="   \n  "),  # empty pages are never cited
        PageText(number=7, text="Beta section. " * 30),
        PageText(number=8, text="Gamma."),
    ]
    chunks = chunk_pages(pages, target_chars=300, overlap_chars=50)
    assert chunks[0].page_start == 5
    assert chunks[-1].page_end == 8
    assert all(6 not in (c.page_start, c.page_end) for c in chunks)
    for chunk in chunks:
        assert ("Alpha" in chunk.text) == (chunk.page_start == 5)
        assert ("Gamma" in chunk.text) == (chunk.page_end == 8)
    assert any(c.page_start == 5 and c.page_end == 7 for c in chunks)  # spans a page break


def test_whitespace_is_normalised() -> None:
    text = "a \t b\r\n\r\n\r\n\r\nc\u3000\u00a0d \n e\n員工\n請假\n\n規定"
    (chunk,) = chunk_pages([PageText(number=1, text=text)])
    assert chunk.text == "a b\n\nc d\ne\n員工請假\n\n規定"


def test_no_chunks_for_blank_pages() -> None:
    assert chunk_pages([PageText(number=1, text=" \n\t "), PageText(number=2, text="")]) == []
    assert chunk_pages([]) == []


def test_deterministic() -> None:
    pages = [PageText(number=1, text=english(30)), PageText(number=2, text=ZH * 20)]
    assert chunk_pages(pages) == chunk_pages(list(pages))


@pytest.mark.parametrize(("target", "overlap"), [(1, 0), (100, 50), (100, -1)])
def test_invalid_sizes(target: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_pages([PageText(number=1, text="x")], target_chars=target, overlap_chars=overlap)


def test_large_input_stays_linear() -> None:
    text = ("特休假" * 100_000) + ("word " * 200_000) + ("y" * 500_000)
    chunks = chunk_pages([PageText(number=1, text=text)])
    assert len(chunks) > 1000
    assert all(len(c.text) <= 1200 for c in chunks)


_alphabet = st.sampled_from(
    [*"abcXYZ019 .!?\n\t\f,;", *"員工請假規定特休。！？「」", "👩\u200d👧", "é", "\u3000"]
)
_page_text = st.lists(_alphabet, max_size=400).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(_page_text, max_size=6),
    target=st.integers(min_value=20, max_value=300),
    overlap_fraction=st.floats(min_value=0, max_value=0.49),
)
def test_chunking_properties(texts: list[str], target: int, overlap_fraction: float) -> None:
    overlap = min(int(target * overlap_fraction), target // 2 - 1)
    pages = [PageText(number=i + 1, text=t) for i, t in enumerate(texts)]
    chunks = chunk_pages(pages, target_chars=target, overlap_chars=overlap)

    # Every non-whitespace input character is in some chunk (as often as in the input).
    assert non_space("".join(c.text for c in chunks)) >= non_space("".join(texts))
    for i, chunk in enumerate(chunks):
        assert chunk.ordinal == i
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= target
        assert not re.search(r"[^\S\n]{2}|\n{3}", chunk.text)
        assert chunk.page_start <= chunk.page_end
        assert texts[chunk.page_start - 1].strip() and texts[chunk.page_end - 1].strip()
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.page_start <= nxt.page_start
        assert prev.page_end <= nxt.page_end


def test_within_pages_no_chunk_spans_two_pages() -> None:
    pages = [
        PageText(number=1, text="Slide one title. " * 5),
        PageText(number=2, text="Slide two body. " * 5),
        PageText(number=2, text="More of slide two. " * 5),  # one page written in parts
        PageText(number=3, text="Slide three. " * 5),
    ]
    spanning = chunk_pages(pages, target_chars=1200, overlap_chars=100)
    assert [(c.page_start, c.page_end) for c in spanning] == [(1, 3)]
    bounded = chunk_pages(pages, target_chars=1200, overlap_chars=100, within_pages=True)
    assert [(c.page_start, c.page_end) for c in bounded] == [(1, 1), (2, 2), (3, 3)]
    assert [c.ordinal for c in bounded] == [0, 1, 2]
    assert "More of slide two" in bounded[1].text
