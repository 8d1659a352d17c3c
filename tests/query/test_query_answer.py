"""POST /v1/answer: the extractive answerer offline, and Bedrock Converse through the
real aioboto3 client against the local Bedrock-format server."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import asyncpg
import httpx
import pytest

from docpipe.common.embeddings import Embedder, create_embedder
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.query.answer.converse import SYSTEM_PROMPT
from docpipe.query.answer.service import NOTHING_FOUND
from docpipe.query.config import QuerySettings
from docpipe.testkit.bedrock_server import THROTTLE, BedrockServer
from docpipe.testkit.chunks import SeededDocument, seed_document
from tests.query.test_query_search import HANDBOOK, assert_problem, make_client, make_settings

MODEL = "amazon.nova-pro-v1:0"


def parse_sources(prompt: str) -> list[tuple[int, str, str]]:
    """``(n, file, text)`` of every source in a prompt, found by its boundary tag only."""
    tag = re.search(r"<(source-[0-9a-f]{32}) ", prompt)
    assert tag is not None, prompt
    name = tag.group(1)
    pattern = re.compile(
        rf'<{name} n="(\d+)" file="([^"]*)" pages="[^"]*">\n(.*?)\n</{name}>', re.DOTALL
    )
    return [(int(n), file, text) for n, file, text in pattern.findall(prompt)]


@pytest.fixture(scope="module")
def bedrock() -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_server(bedrock: BedrockServer) -> None:
    bedrock.reset()


@pytest.fixture
def embedder(migrated: EmbeddedPostgres) -> Embedder:
    return create_embedder(make_settings())


@pytest.fixture
async def handbook(
    admin_conn: asyncpg.Connection, tenant: str, embedder: Embedder
) -> SeededDocument:
    return await seed_document(
        admin_conn, tenant=tenant, texts=HANDBOOK, embedder=embedder, filename="handbook.txt"
    )


@pytest.fixture
def bedrock_settings(migrated: EmbeddedPostgres, bedrock: BedrockServer) -> QuerySettings:
    return make_settings(answer_provider="bedrock", bedrock_endpoint_url=bedrock.url)


@pytest.fixture
async def bedrock_client(
    bedrock_settings: QuerySettings, tenant: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(bedrock_settings, tenant) as c:
        yield c


@pytest.fixture
async def extractive_client(
    migrated: EmbeddedPostgres, tenant: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_settings(), tenant) as c:
        yield c


def test_provider_selection_follows_configuration(migrated: EmbeddedPostgres) -> None:
    assert not make_settings().answers_with_bedrock
    assert make_settings(answer_provider="bedrock").answers_with_bedrock
    assert make_settings(embedding_provider="bedrock").answers_with_bedrock
    assert not make_settings(
        embedding_provider="bedrock", answer_provider="extractive"
    ).answers_with_bedrock


# --- extractive (offline) ------------------------------------------------------------------


async def test_extractive_answer_quotes_and_cites_the_best_passages(
    extractive_client: httpx.AsyncClient, handbook: SeededDocument
) -> None:
    response = await extractive_client.post(
        "/v1/answer", json={"query": "How many days of paid vacation do employees get?"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "extractive"
    assert body["answer"].startswith("Extractive answer")
    assert HANDBOOK[0] in body["answer"]
    first = body["citations"][0]
    assert first == {
        "document_id": str(handbook.id),
        "filename": "handbook.txt",
        "page_start": 1,
        "page_end": 1,
        "chunk_id": str(handbook.chunk_ids[0]),
    }
    assert {c["chunk_id"] for c in body["citations"]} <= {str(c) for c in handbook.chunk_ids}


async def test_nothing_relevant_says_so_without_citations(
    extractive_client: httpx.AsyncClient, handbook: SeededDocument
) -> None:
    response = await extractive_client.post(
        "/v1/answer", json={"query": "quantum chromodynamics gluon confinement"}
    )
    body = response.json()
    assert {k: body[k] for k in ("answer", "citations", "model")} == {
        "answer": NOTHING_FOUND,
        "citations": [],
        "model": "none",
    }


async def test_answer_with_no_documents_says_nothing_was_found(
    extractive_client: httpx.AsyncClient,
) -> None:
    response = await extractive_client.post("/v1/answer", json={"query": "vacation days"})
    assert response.json()["answer"] == NOTHING_FOUND


# --- Bedrock Converse ------------------------------------------------------------------------


def _reply(text: str) -> Any:
    def reply(model_id: str, request: Mapping[str, Any]) -> str:
        return text

    return reply


async def test_bedrock_answer_sends_numbered_sources_and_cites_only_real_ones(
    bedrock_client: httpx.AsyncClient, bedrock: BedrockServer, handbook: SeededDocument
) -> None:
    bedrock.converse_reply = _reply(
        "Employees get fifteen days of paid vacation [1]. Remote work needs approval [2][9]."
    )
    response = await bedrock_client.post(
        "/v1/answer", json={"query": "paid vacation and remote work", "top_k": 3}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == MODEL
    assert body["answer"].startswith("Employees get fifteen days")

    [request] = bedrock.bodies(MODEL, operation="converse")
    assert request["system"] == [{"text": SYSTEM_PROMPT}]
    assert "only" in SYSTEM_PROMPT and "don't know" in SYSTEM_PROMPT
    prompt = request["messages"][0]["content"][0]["text"]
    assert "Question: paid vacation and remote work" in prompt
    # The prompt numbers the relevant retrieved chunks inside nonce-named tags; [9] does
    # not exist: no citation.
    sources = parse_sources(prompt)
    assert len(sources) >= 2
    assert [n for n, _, _ in sources] == list(range(1, len(sources) + 1))
    assert all(file == "handbook.txt" for _, file, _ in sources)
    cited = [c["chunk_id"] for c in body["citations"]]
    assert len(cited) == 2 and len(set(cited)) == 2
    by_text = dict(zip(handbook.chunk_ids, HANDBOOK, strict=True))
    for number, chunk_id in zip((1, 2), cited, strict=True):
        assert sources[number - 1][2] == by_text[uuid.UUID(chunk_id)]


async def test_bedrock_is_not_called_when_nothing_relevant_is_found(
    bedrock_client: httpx.AsyncClient, bedrock: BedrockServer, handbook: SeededDocument
) -> None:
    response = await bedrock_client.post(
        "/v1/answer", json={"query": "quantum chromodynamics gluon confinement"}
    )
    body = response.json()
    assert (body["answer"], body["citations"], body["model"]) == (NOTHING_FOUND, [], "none")
    assert bedrock.calls(operation="converse") == 0


async def test_bedrock_answer_without_markers_has_no_citations(
    bedrock_client: httpx.AsyncClient, bedrock: BedrockServer, handbook: SeededDocument
) -> None:
    bedrock.converse_reply = _reply("I don't know based on the provided documents.")
    body = (await bedrock_client.post("/v1/answer", json={"query": "vacation"})).json()
    assert body["citations"] == [] and body["model"] == MODEL


async def test_bedrock_throttling_is_retried_then_answered(
    bedrock_client: httpx.AsyncClient, bedrock: BedrockServer, handbook: SeededDocument
) -> None:
    bedrock.fail_next(2, THROTTLE, model_id=MODEL)
    bedrock.converse_reply = _reply("Fifteen days [1].")
    response = await bedrock_client.post("/v1/answer", json={"query": "vacation"})
    assert response.status_code == 200 and len(response.json()["citations"]) == 1
    assert bedrock.calls(MODEL, operation="converse", ok=False) == 2


async def test_bedrock_throttling_that_persists_is_a_503_problem(
    bedrock_client: httpx.AsyncClient, bedrock: BedrockServer, handbook: SeededDocument
) -> None:
    bedrock.fail_next(10, THROTTLE, model_id=MODEL)
    response = await bedrock_client.post("/v1/answer", json={"query": "vacation"})
    assert_problem(response, 503)
    assert response.headers["retry-after"]
