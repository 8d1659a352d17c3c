"""The local feature-hashing embedder: deterministic, normalised, lexical, CJK-aware."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from docpipe.common.embeddings import Embedder
from docpipe.common.embeddings.local import LOCAL_MODEL_ID, LocalHashEmbedder, segments

DIMS = 256


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


async def embed(*texts: str, dims: int = DIMS) -> list[list[float]]:
    return await LocalHashEmbedder(dimensions=dims).embed(list(texts), input_type="search_document")


async def test_vectors_are_unit_length_with_the_configured_dimensions() -> None:
    vectors = await embed("Annual leave policy", "年假規定", "有給休暇の申請", dims=384)
    assert [len(v) for v in vectors] == [384, 384, 384]
    for vector in vectors:
        assert norm(vector) == pytest.approx(1.0)


async def test_same_text_same_vector_across_instances_and_batches() -> None:
    texts = [f"document number {i} about payroll and leave" for i in range(100)]
    big_batch = await embed(*texts)  # > 64 texts: hashed in a worker thread
    singles = [(await embed(t))[0] for t in texts[:5]]
    assert big_batch[:5] == singles
    assert (await embed(texts[0]))[0] == (await embed(texts[0]))[0]


def test_hashing_is_stable_across_processes() -> None:
    """Vectors go into a persistent cache: Python's randomised hash() must not leak in."""
    code = (
        "import asyncio, json;"
        "from docpipe.common.embeddings.local import LocalHashEmbedder as E;"
        "v = asyncio.run(E(dimensions=64).embed(['hash me 人力資源'], input_type='search_query'));"
        "print(json.dumps(v[0]))"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert json.loads(outputs[0]) == json.loads(outputs[1])


async def test_text_without_words_embeds_to_zero() -> None:
    for vector in await embed("", "  ...!!! —", "、。"):
        assert vector == [0.0] * DIMS


async def test_empty_input_makes_no_call() -> None:
    embedder = LocalHashEmbedder(dimensions=DIMS)
    assert await embedder.embed([], input_type="search_query") == []
    assert embedder.stats.calls == 0


@pytest.mark.parametrize(
    "text",
    ["人力資源部門負責員工招聘", "有給休暇の申請方法", "請", "カタカナ"],
)
async def test_cjk_text_produces_non_zero_vectors(text: str) -> None:
    (vector,) = await embed(text)
    assert norm(vector) == pytest.approx(1.0)


async def test_shared_words_score_higher_than_unrelated_text() -> None:
    query, relevant, unrelated = await embed(
        "annual leave policy",
        "Our annual leave policy grants twenty days of paid leave per year.",
        "The cafeteria serves lunch from noon until two in the afternoon.",
    )
    assert cosine(query, relevant) > 0.3
    assert cosine(query, relevant) > cosine(query, unrelated) + 0.2


async def test_chinese_query_matches_chinese_passage_by_character_bigrams() -> None:
    query, relevant, unrelated = await embed(
        "請假規定",
        "員工請假規定依照公司政策辦理,請假需提前三天申請。",
        "薪資福利每月十日發放,年終獎金依績效計算。",
    )
    assert cosine(query, relevant) > cosine(query, unrelated) + 0.2


async def test_width_and_case_are_normalised() -> None:
    a, b = await embed("ＨＲ Ｐｏｌｉｃｙ ２０２４", "hr policy 2024")
    assert a == b


async def test_word_order_matters_through_bigrams() -> None:
    a, b = await embed("dog bites man", "man bites dog")
    assert a != b
    assert cosine(a, b) > 0.3  # same unigrams


def test_segments_split_cjk_runs_from_words() -> None:
    assert segments("HR部門 policy_2024, 年假") == [
        (False, ["hr"]),
        (True, ["部", "門"]),
        (False, ["policy", "2024"]),
        (True, ["年", "假"]),
    ]


async def test_contract_and_stats() -> None:
    embedder = LocalHashEmbedder(dimensions=DIMS)
    assert isinstance(embedder, Embedder)
    assert embedder.model_id == LOCAL_MODEL_ID
    await embedder.embed(["a b", "c d"], input_type="search_document")
    await embedder.embed(["e"], input_type="search_query")
    assert (embedder.stats.calls, embedder.stats.texts) == (2, 3)
    assert (embedder.stats.retries, embedder.stats.throttled) == (0, 0)
    await embedder.embed(["f"], input_type="search_query")
    assert (embedder.stats.calls, embedder.stats.texts) == (3, 4)
