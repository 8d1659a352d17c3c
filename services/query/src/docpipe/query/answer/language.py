"""The language and script an answer must be written in: the question's.

A model asked in Traditional Chinese tends to drift into Simplified (and the sources may be
in either script), so the script is detected here and named explicitly in the prompt.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

from docpipe.common.keywords import fold_chinese

__all__ = ["Script", "answer_instruction", "detect_script"]

Script = Literal["zh-Hant", "zh-Hans", "ja", "ko", "other"]
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3041-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@cache
def _to_traditional() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


def detect_script(text: str) -> Script:
    """The script of ``text``: Traditional or Simplified Chinese, Japanese, Korean, other."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    han = _HAN.findall(text)
    if not han:
        return "other"
    traditional = sum(1 for ch in han if fold_chinese(ch) != ch)
    simplified = sum(1 for ch in han if _to_traditional().convert(ch) != ch)
    # Characters shared by both scripts count for neither; Taiwan is the original audience.
    return "zh-Hans" if simplified > traditional else "zh-Hant"


_INSTRUCTIONS: dict[Script, str] = {
    "zh-Hant": "Write the answer in Traditional Chinese (繁體中文), as the question is.",
    "zh-Hans": "Write the answer in Simplified Chinese (简体中文), as the question is.",
    "ja": "Write the answer in Japanese, as the question is.",
    "ko": "Write the answer in Korean, as the question is.",
    "other": "Write the answer in the language of the question.",
}


def answer_instruction(question: str) -> str:
    return _INSTRUCTIONS[detect_script(question)]
