"""Who may see what: tenants × groups over every route of both services, and in the database.

Tenant A has three callers: ``hr`` (a member of group hr), ``staff`` (in group staff only)
and ``admin`` (in ADMIN_GROUPS); tenant B has ``b_hr``, a member of a group that is also
called hr. A's documents are OPEN (``access: []``) and HR_ONLY (``["hr"]``), B's is B_HR
(``["hr"]``). The real upload service and processor build them; then every caller probes
every route, and :data:`SEES` says what each must find. A document a caller may not see
must answer exactly like one that does not exist, and never show through search, answers,
streamed sources, conversations or duplicate detection. The database enforces the same
rule on its own (row-level security as the query service's role).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from docpipe.common.keys import document_key
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.query.config import QuerySettings
from docpipe.query.main import create_app as create_query_app
from docpipe.testkit.events import s3_record, sqs_event
from docpipe.testkit.tokens import sign
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app as create_upload_app

SECRET = "matrix-test-secret-0123456789abcdef"
ADMINS = "docpipe-admins"
OPEN = b"Tenant A travel policy: economy class for flights under six hours.\n"
HR_ONLY = b"Salary band seven pineapple: managers earn up to 120000 dollars.\n"
B_HR = b"Confidential zebra quartz merger plan of tenant B's hr group.\n"
SALARY_QUERY = "salary band seven pineapple"


@dataclass
class Caller:
    tenant: str
    groups: list[str]
    upload: httpx.AsyncClient = field(init=False)
    query: httpx.AsyncClient = field(init=False)


#: Which of the world's documents each caller must see.
SEES: dict[str, set[bytes]] = {
    "hr": {OPEN, HR_ONLY},
    "staff": {OPEN},
    "admin": {OPEN, HR_ONLY},
    "b_hr": {B_HR},
}
CALLERS = list(SEES)
DOCUMENTS = {"open": OPEN, "hr_only": HR_ONLY, "b_hr": B_HR}


@dataclass
class World:
    callers: dict[str, Caller]
    documents: dict[bytes, str]  # bytes -> document id
    upload_app: Any
    query_app: Any

    def visible(self, caller: str) -> set[str]:
        return {self.documents[d] for d in SEES[caller]}

    def hidden(self, caller: str) -> set[str]:
        return set(self.documents.values()) - self.visible(caller)


@pytest.fixture(scope="module")
def queue(aws: AwsResources) -> str:
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    return str(sqs.create_queue(QueueName=f"matrix-{uuid.uuid4().hex[:8]}")["QueueUrl"])


def _client(app: Any, base: str, caller: Caller, sub: str) -> httpx.AsyncClient:
    token = sign(SECRET, caller.tenant, sub=sub, groups=caller.groups)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture(scope="module")
async def world(migrated: EmbeddedPostgres, aws: AwsResources, queue: str) -> AsyncIterator[World]:
    common: dict[str, Any] = {"auth_mode": "jwt", "jwt_secret": SECRET, "admin_groups": ADMINS}
    upload_app = create_upload_app(UploadSettings(ingest_queue_url=queue, **common))  # type: ignore[call-arg]
    query_app = create_query_app(QuerySettings(**common))
    tenant_a, tenant_b = (f"matrix-{x}-{uuid.uuid4().hex[:8]}" for x in "ab")
    callers = {
        "hr": Caller(tenant_a, ["hr", "everyone"]),
        "staff": Caller(tenant_a, ["staff", "everyone"]),
        "admin": Caller(tenant_a, [ADMINS]),
        "b_hr": Caller(tenant_b, ["hr"]),
    }
    for name, caller in callers.items():
        caller.upload = _client(upload_app, "http://upload.test", caller, sub=name)
        caller.query = _client(query_app, "http://query.test", caller, sub=name)
    documents: dict[bytes, str] = {}
    await _ingest(callers["hr"], aws, documents, [(OPEN, []), (HR_ONLY, ["hr"])])
    await _ingest(callers["b_hr"], aws, documents, [(B_HR, ["hr"])])
    yield World(callers, documents, upload_app, query_app)
    for caller in callers.values():
        await caller.upload.aclose()
        await caller.query.aclose()


async def _ingest(
    caller: Caller, aws: AwsResources, into: dict[bytes, str], files: list[tuple[bytes, list[str]]]
) -> None:
    """Upload through the API, then run the real processor on each stored object."""
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    processor._settings = None  # type: ignore[attr-defined]
    processor._embedder = None  # type: ignore[attr-defined]
    records = []
    for n, (data, access) in enumerate(files):
        response = await caller.upload.post(
            "/v1/documents",
            files=[("file", (f"file{n}.txt", data, "text/plain"))],
            data={"access": json.dumps(access)},
        )
        assert response.status_code == 202, response.text
        [document] = response.json()["documents"]
        assert document["duplicate"] is False and document["access"] == access
        into[data] = document["id"]
        key = document_key(
            uploads_prefix="uploads/", tenant_id=caller.tenant, document_id=document["id"]
        )
        version = s3.head_object(Bucket=aws.bucket, Key=key).get("VersionId")
        records.append({"Records": [s3_record(bucket=aws.bucket, key=key, version_id=version)]})
    assert await processor.handle_event(sqs_event(*records)) == {"batchItemFailures": []}
    for data, _ in files:
        doc = (await caller.upload.get(f"/v1/documents/{into[data]}")).json()
        assert doc["status"] == "completed" and doc["chunk_count"] >= 1, doc


def _ids(results: list[dict[str, Any]], key: str = "document_id") -> set[str]:
    return {r[key] for r in results}


def _without_ids(body: dict[str, Any], *ids: str) -> dict[str, Any]:
    text = json.dumps(body)
    for value in ids:
        text = text.replace(value, "ID")
    result: dict[str, Any] = json.loads(text)
    return result


# --- upload service -----------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
async def test_upload_routes_show_exactly_what_the_caller_may_see(world: World, who: str) -> None:
    caller = world.callers[who]
    listing = (await caller.upload.get("/v1/documents", params={"limit": 100})).json()
    assert _ids(listing["documents"], "id") == world.visible(who)
    nobody = str(uuid.uuid4())
    for doc in world.visible(who):
        assert (await caller.upload.get(f"/v1/documents/{doc}")).status_code == 200
        link = await caller.upload.get(
            f"/v1/documents/{doc}/content", headers={"Accept": "application/json"}
        )
        assert link.status_code == 200 and link.json()["url"]
        patched = await caller.upload.patch(f"/v1/documents/{doc}", json={"metadata": {"by": who}})
        assert patched.status_code == 200, patched.text
    for doc in world.hidden(who):
        for method, path, body in [
            ("GET", "/v1/documents/{}", None),
            ("GET", "/v1/documents/{}/content", None),
            ("PATCH", "/v1/documents/{}", {"metadata": {"x": 1}}),
            ("PATCH", "/v1/documents/{}", {"access": []}),
            ("DELETE", "/v1/documents/{}", None),
            ("POST", "/v1/documents/{}/reprocess", None),
        ]:
            theirs = await caller.upload.request(method, path.format(doc), json=body)
            missing = await caller.upload.request(method, path.format(nobody), json=body)
            assert theirs.status_code == missing.status_code == 404, (who, method, path)
            # Same answer as for a document that does not exist: no existence oracle.
            assert _without_ids(theirs.json(), doc) == _without_ids(missing.json(), nobody)
    # The owners still have every document, unchanged, after the probes.
    for owner, data in (("admin", OPEN), ("admin", HR_ONLY), ("b_hr", B_HR)):
        doc = await world.callers[owner].upload.get(f"/v1/documents/{world.documents[data]}")
        assert doc.status_code == 200 and doc.json()["status"] == "completed"


async def test_duplicate_detection_never_reveals_a_hidden_document(world: World) -> None:
    hr, staff, b_hr = world.callers["hr"], world.callers["staff"], world.callers["b_hr"]
    hidden = world.documents[HR_ONLY]

    mine = await hr.upload.post("/v1/documents", files=[("file", ("again.txt", HR_ONLY))])
    [again] = mine.json()["documents"]
    assert again["duplicate"] is True and again["id"] == hidden  # the control

    for who, caller in (("staff", staff), ("b_hr", b_hr)):
        response = await caller.upload.post(
            "/v1/documents", files=[("file", ("guess.txt", HR_ONLY, "text/plain"))]
        )
        assert response.status_code == 202, response.text
        [document] = response.json()["documents"]
        # A document of its own: the hidden one is neither returned nor named anywhere.
        assert document["duplicate"] is False and document["id"] != hidden, who
        assert hidden not in response.text
        assert (await caller.upload.delete(f"/v1/documents/{document['id']}")).status_code == 204


async def test_a_caller_cannot_hide_a_document_from_itself(world: World) -> None:
    staff = world.callers["staff"]
    refused = await staff.upload.post(
        "/v1/documents",
        files=[("file", ("x.txt", b"staff notes " + uuid.uuid4().bytes.hex().encode()))],
        data={"access": json.dumps(["hr"])},
    )
    assert refused.status_code == 422 and "hide the document from you" in refused.json()["detail"]
    presign = await staff.upload.post(
        "/v1/uploads",
        json={"filename": "x.txt", "content_type": "text/plain", "size_bytes": 5, "access": ["hr"]},
    )
    assert presign.status_code == 422
    for bad in (["has space"], ["x" * 129], [f"g{i}" for i in range(33)], "hr"):
        response = await staff.upload.patch(
            f"/v1/documents/{world.documents[OPEN]}", json={"access": bad}
        )
        assert response.status_code == 422, bad
    hr_patch = await world.callers["hr"].upload.patch(
        f"/v1/documents/{world.documents[HR_ONLY]}", json={"access": ["staff"]}
    )
    assert hr_patch.status_code == 422  # hr would lose it; an admin may do this


# --- query service ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
@pytest.mark.parametrize("who", CALLERS)
async def test_search_returns_only_what_the_caller_may_see(
    world: World, who: str, mode: str
) -> None:
    caller = world.callers[who]
    for query in (SALARY_QUERY, "zebra quartz merger", "travel policy flights"):
        response = await caller.query.post(
            "/v1/search", json={"query": query, "mode": mode, "top_k": 50}
        )
        assert response.status_code == 200, response.text
        assert _ids(response.json()["results"]) <= world.visible(who), (query, mode)
    salary = await caller.query.post("/v1/search", json={"query": SALARY_QUERY, "mode": mode})
    found = _ids(salary.json()["results"])
    assert (world.documents[HR_ONLY] in found) == (HR_ONLY in SEES[who]), (who, mode)
    named = await caller.query.post(
        "/v1/search",
        json={"query": SALARY_QUERY, "mode": mode, "document_ids": sorted(world.hidden(who))},
    )
    assert named.status_code == 200 and named.json()["results"] == []


@pytest.mark.parametrize("who", CALLERS)
async def test_answers_streams_and_conversations_cite_only_visible_documents(
    world: World, who: str
) -> None:
    caller = world.callers[who]
    expected = world.documents[HR_ONLY] if HR_ONLY in SEES[who] else None
    body = (await caller.query.post("/v1/answer", json={"query": SALARY_QUERY})).json()
    cited = _ids(body["citations"])
    assert cited <= world.visible(who)
    assert (expected in cited) if expected else "120000" not in body["answer"]
    stream = await caller.query.post("/v1/answer", json={"query": SALARY_QUERY, "stream": True})
    events = [
        (block.split("\n")[0].removeprefix("event: "), block.split("data: ", 1)[1])
        for block in stream.text.strip().split("\n\n")
    ]
    sources = json.loads(events[0][1])["sources"]
    assert events[0][0] == "sources" and _ids(sources) <= world.visible(who)
    if expected:
        assert expected in _ids(sources)
    history = await caller.query.get(f"/v1/conversations/{body['conversation_id']}")
    assert history.status_code == 200
    for message in history.json()["messages"]:
        assert _ids(message["citations"] or []) <= world.visible(who)


async def test_access_changes_take_effect_at_once(world: World) -> None:
    """Opening a document (``access: []``) shows it in the next search; restricting it
    again hides it, from search and from a conversation that cited it."""
    admin, staff, hr = world.callers["admin"], world.callers["staff"], world.callers["hr"]
    doc = world.documents[HR_ONLY]
    turn = (await hr.query.post("/v1/answer", json={"query": SALARY_QUERY})).json()
    assert doc in _ids(turn["citations"])
    try:
        opened = await admin.upload.patch(f"/v1/documents/{doc}", json={"access": []})
        assert opened.status_code == 200 and opened.json()["access"] == []
        for mode in ("hybrid", "vector", "keyword"):
            found = await staff.query.post("/v1/search", json={"query": SALARY_QUERY, "mode": mode})
            assert doc in _ids(found.json()["results"]), mode
        assert (await staff.upload.get(f"/v1/documents/{doc}")).status_code == 200

        moved = await admin.upload.patch(f"/v1/documents/{doc}", json={"access": ["finance"]})
        assert moved.status_code == 200 and moved.json()["access"] == ["finance"]
        for caller in (staff, hr):
            found = await caller.query.post("/v1/search", json={"query": SALARY_QUERY})
            assert doc not in _ids(found.json()["results"])
        history = await hr.query.get(f"/v1/conversations/{turn['conversation_id']}")
        [_, answer] = history.json()["messages"]
        assert answer["role"] == "assistant" and doc not in _ids(answer["citations"])
    finally:
        restored = await admin.upload.patch(f"/v1/documents/{doc}", json={"access": ["hr"]})
        assert restored.status_code == 200
    history = await hr.query.get(f"/v1/conversations/{turn['conversation_id']}")
    assert doc in _ids(history.json()["messages"][1]["citations"])


# --- the database on its own --------------------------------------------------------------


async def _as_reader(
    conn: asyncpg.Connection, tenant: str, groups: str | None, admin: str | None = None
) -> None:
    await conn.execute("select set_config('app.tenant_id', $1, true)", tenant)
    if groups is not None:
        await conn.execute("select set_config('app.groups', $1, true)", groups)
    if admin is not None:
        await conn.execute("select set_config('app.admin', $1, true)", admin)


async def test_the_database_itself_enforces_tenant_and_groups(
    world: World, migrated: EmbeddedPostgres
) -> None:
    """As the query service's role, with a tenant and groups set by hand: what row-level
    security returns, whatever the SQL asks for."""
    tenant_a = world.callers["hr"].tenant
    hidden = uuid.UUID(world.documents[HR_ONLY])
    conn = await asyncpg.connect(migrated.role_dsn("query"))
    try:
        assert await conn.fetchval("select current_user") == "docpipe_query"
        assert not await conn.fetchval(
            "select rolbypassrls or rolsuper from pg_roles where rolname = current_user"
        )
        cases = [  # (groups, admin, sees the restricted chunks)
            ('{"staff","everyone"}', None, False),
            (None, None, False),  # nothing set: open documents only
            ('{"hr"}', None, True),
            ('{"staff"}', "on", True),
            ('{"finance","HR"}', "off", False),  # names are case-sensitive
        ]
        for groups, admin, sees in cases:
            async with conn.transaction():
                await _as_reader(conn, tenant_a, groups, admin)
                chunks = await conn.fetchval(
                    "select count(*) from chunks where document_id = $1", hidden
                )
                documents = await conn.fetchval(
                    "select count(*) from documents where id = $1", hidden
                )
                matches = await conn.fetchval(
                    "select count(*) from docpipe_keyword_matches("
                    " to_tsquery('simple', 'pineappl'), null, null)"
                )
                terms = await conn.fetchval(
                    "select coalesce(sum(df), 0) from keyword_term_stats where lexeme = 'pineappl'"
                )
                assert (chunks > 0, documents, matches > 0, terms > 0) == (
                    sees,
                    int(sees),
                    sees,
                    sees,
                ), (groups, admin)
        async with conn.transaction():  # tenant B's hr is another group
            await _as_reader(conn, world.callers["b_hr"].tenant, '{"hr"}')
            assert (
                await conn.fetchval("select count(*) from chunks where document_id = $1", hidden)
                == 0
            )
        # Settings were transaction-local: the connection no longer carries any.
        assert await conn.fetchval("select count(*) from chunks") == 0
    finally:
        await conn.close()
