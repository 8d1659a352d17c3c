"""The keyword tokenizer in isolation (Postgres behaviour: tests/common/test_keywords_pg.py)."""

from __future__ import annotations

import re

from docpipe.common.keywords import KeywordText, cjk_tokens, keyword_text


def test_cjk_runs_become_bigrams_and_latin_is_kept() -> None:
    result = keyword_text("員工請假 policy for 2024年 leave")
    assert result.latin == "policy for 2024 leave"
    # Folded to Simplified first (员工请假): the same tokens as the Simplified text.
    assert result.cjk.split() == ["k0545805de5", "k05de508bf7", "k08bf705047", "k05e74"]
    assert keyword_text("员工请假 policy for 2024年 leave") == result


def test_single_character_run_is_a_unigram() -> None:
    assert cjk_tokens("年") == ["k05e74"]
    assert cjk_tokens("特休假") == ["k0727904f11", "k04f1105047"]


def test_full_width_and_half_width_forms_are_normalised() -> None:
    assert keyword_text("ＡＢＣ　１２３") == KeywordText(latin="ABC 123", cjk="")
    assert keyword_text("ｶﾀｶﾅ").cjk == keyword_text("カタカナ").cjk != ""


def test_kana_hangul_and_extension_b_are_cjk() -> None:
    result = keyword_text("ひらがな カタカナー 한국어 𠀀𠀁")
    assert result.latin == ""
    assert len(result.cjk.split()) == 3 + 4 + 2 + 1
    assert all(re.fullmatch(r"k(?:[0-9a-f]{5}){1,2}", t) for t in result.cjk.split())


def test_punctuation_separates_runs() -> None:
    assert keyword_text("員工，請假").cjk.split() == ["k0545805de5", "k08bf705047"]
    assert keyword_text("カタ・カナ").cjk.split() == ["k030ab030bf", "k030ab030ca"]


def test_nul_and_empty_input() -> None:
    assert keyword_text("a\x00b") == KeywordText(latin="a b", cjk="")
    assert keyword_text("") == KeywordText(latin="", cjk="")
