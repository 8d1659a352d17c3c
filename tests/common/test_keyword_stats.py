"""BM25 statistics kept by triggers on chunks, and the keyword leg that reads them.

Writes go through the processor's own store functions as ``docpipe_processor`` inside
tenant transactions (the role and path the triggers run under in production), deletes as
``docpipe_upload``; every check recomputes the statistics from the chunks themselves, per
visibility class, and demands equality.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import asyncpg
import numpy as np
import pytest

from docpipe.common.db import _init_connection, tenant_transaction
from docpipe.common.migrations import apply_migrations, load_migrations
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.processor.document_rows import ChunkRow, claim_document, complete_document
from docpipe.query.keyword import BM25, keyword_search
from tests.conftest import TEST_DIMENSIONS


async def _role_pool(
    migrated: EmbeddedPostgres, role: str, max_size: int
) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        migrated.role_dsn(role), min_size=1, max_size=max_size, init=_init_connection
    )
    yield pool
    await pool.close()


@pytest.fixture
async def app_pool(migrated: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """The processor's role (it writes chunks)."""
    async for pool in _role_pool(migrated, "processor", 4):
        yield pool


@pytest.fixture
async def query_pool(migrated: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """The query service's role (it reads chunks and statistics)."""
    async for pool in _role_pool(migrated, "query", 2):
        yield pool


@pytest.fixture
async def upload_pool(migrated: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """The upload service's role (it deletes documents)."""
    async for pool in _role_pool(migrated, "upload", 2):
        yield pool


def _rows(texts: Sequence[str]) -> list[ChunkRow]:
    vector = np.zeros(TEST_DIMENSIONS, dtype=np.float32)
    vector[0] = 1.0
    return [
        ChunkRow(
            ordinal=i,
            page_start=1,
            page_end=1,
            text=t,
            content_sha256=hashlib.sha256(t.encode()).hexdigest(),
            embedding=vector,
        )
        for i, t in enumerate(texts)
    ]


async def _new_document(admin: asyncpg.Connection, tenant: str) -> uuid.UUID:
    doc_id = uuid.uuid4()
    await admin.execute(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
        " storage_key, status) values ($1, $2, 'd.txt', 'text/plain', 1, $3, 'queued')",
        doc_id,
        tenant,
        f"uploads/stats/{doc_id}",
    )
    return doc_id


async def _process(
    pool: asyncpg.Pool, *, tenant: str, doc_id: uuid.UUID, texts: Sequence[str]
) -> None:
    """Claim and (re)write the document's chunks exactly as the processor does."""
    claim = await claim_document(
        pool,
        tenant_id=tenant,
        document_id=doc_id,
        storage_key=f"uploads/stats/{doc_id}",
        version=None,
        lease=timedelta(minutes=5),
        max_attempts=100,
    )
    assert claim.token is not None
    refused = await complete_document(
        pool,
        tenant_id=tenant,
        document_id=doc_id,
        token=claim.token,
        version=None,
        sha256=hashlib.sha256(f"{doc_id}{texts}".encode()).hexdigest(),
        size_bytes=1,
        page_count=1,
        content_type="text/plain",
        warnings=[],
        chunks=_rows(texts),
    )
    assert refused is None


async def _assert_exact(admin: asyncpg.Connection, tenant: str) -> tuple[int, dict[str, int]]:
    """The stored statistics of ``tenant``, per visibility class (access list), equal a
    recomputation from its chunks; returns the tenant-wide chunk count and frequencies."""
    expected = {
        tuple(r["access"]): (r["n"], r["total"])
        for r in await admin.fetch(
            "select access, count(*) as n, sum(length(keywords)) as total"
            " from chunks where tenant_id = $1 group by access",
            tenant,
        )
    }
    stored = {
        tuple(r["access"]): (r["chunk_count"], r["keyword_length"])
        for r in await admin.fetch(
            "select access, chunk_count, keyword_length from keyword_corpus_stats"
            " where tenant_id = $1 and chunk_count <> 0",
            tenant,
        )
    }
    assert stored == expected
    df_expected = {
        (tuple(r["access"]), r["lexeme"]): r["df"]
        for r in await admin.fetch(
            "select c.access, u.lexeme, count(*) as df from chunks c,"
            " unnest(tsvector_to_array(c.keywords)) u (lexeme)"
            " where c.tenant_id = $1 group by c.access, u.lexeme",
            tenant,
        )
    }
    df_stored = {
        (tuple(r["access"]), r["lexeme"]): r["df"]
        for r in await admin.fetch(
            "select access, lexeme, df from keyword_term_stats where tenant_id = $1", tenant
        )
    }
    assert df_stored == df_expected
    assert all(df > 0 for df in df_stored.values())
    tenant_df: Counter[str] = Counter()
    for (_, lexeme), df in df_stored.items():
        tenant_df[lexeme] += df
    return sum(n for n, _ in stored.values()), dict(tenant_df)


async def test_stats_follow_insert_reprocess_and_delete(
    admin_conn: asyncpg.Connection, app_pool: asyncpg.Pool, upload_pool: asyncpg.Pool, tenant: str
) -> None:
    first = await _new_document(admin_conn, tenant)
    second = await _new_document(admin_conn, tenant)
    await _process(
        app_pool,
        tenant=tenant,
        doc_id=first,
        texts=["Annual leave accrues monthly.", "Leave requests need approval.", "特休假規定"],
    )
    await _process(app_pool, tenant=tenant, doc_id=second, texts=["Overtime pay rules."])
    n, df = await _assert_exact(admin_conn, tenant)
    assert n == 4 and df["leav"] == 2 and df["overtim"] == 1

    # Reprocess: delete + insert in one transaction; 'leav' now in one chunk only.
    await _process(
        app_pool, tenant=tenant, doc_id=first, texts=["Annual leave accrues.", "Remote work."]
    )
    n, df = await _assert_exact(admin_conn, tenant)
    assert n == 3 and df["leav"] == 1 and "approv" not in df and "remot" in df

    # Deleting the document (the API's path) cascades to its chunks.
    async with tenant_transaction(upload_pool, tenant) as conn:
        await conn.execute("delete from documents where id = $1", first)
    n, df = await _assert_exact(admin_conn, tenant)
    assert n == 1 and set(df) == {"overtim", "pay", "rule"}

    async with tenant_transaction(upload_pool, tenant) as conn:
        await conn.execute("delete from documents where id = $1", second)
    n, df = await _assert_exact(admin_conn, tenant)
    assert n == 0 and df == {}


async def test_concurrent_writers_of_one_tenant_lose_no_update(
    admin_conn: asyncpg.Connection, app_pool: asyncpg.Pool, tenant: str
) -> None:
    docs = [await _new_document(admin_conn, tenant) for _ in range(4)]
    shared = "holiday policy approval manager leave"
    texts = [
        [f"{shared} alpha{i} chunk {j}" for j in range(30)] + [f"zeta{i} omega policy"]
        for i in range(len(docs))
    ]
    for _ in range(2):  # first inserts, then concurrent reprocessing (delete + insert)
        await asyncio.gather(
            *(
                _process(app_pool, tenant=tenant, doc_id=d, texts=t)
                for d, t in zip(docs, texts, strict=True)
            )
        )
        n, df = await _assert_exact(admin_conn, tenant)
        assert n == 4 * 31 and df["polici"] == 4 * 31 and df["holiday"] == 4 * 30


async def test_stats_are_per_tenant_and_hidden_by_row_level_security(
    admin_conn: asyncpg.Connection, app_pool: asyncpg.Pool, migrated: EmbeddedPostgres
) -> None:
    tenant_a, tenant_b = f"stats-a-{uuid.uuid4().hex[:8]}", f"stats-b-{uuid.uuid4().hex[:8]}"
    doc_a = await _new_document(admin_conn, tenant_a)
    doc_b = await _new_document(admin_conn, tenant_b)
    await _process(app_pool, tenant=tenant_a, doc_id=doc_a, texts=["shared word apple"] * 3)
    await _process(app_pool, tenant=tenant_b, doc_id=doc_b, texts=["shared word banana"])
    _, df_a = await _assert_exact(admin_conn, tenant_a)
    _, df_b = await _assert_exact(admin_conn, tenant_b)
    assert df_a == {"share": 3, "word": 3, "appl": 3}
    assert df_b == {"share": 1, "word": 1, "banana": 1}

    app = await asyncpg.connect(migrated.role_dsn("query"))
    try:
        # No tenant set: no statistics row at all, and none can be written.
        assert await app.fetchval("select count(*) from keyword_term_stats") == 0
        assert await app.fetchval("select count(*) from keyword_corpus_stats") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("insert into keyword_term_stats values ($1, 'x', 1)", tenant_a)
        async with app.transaction():
            await app.execute("select set_config('app.tenant_id', $1, true)", tenant_a)
            rows = await app.fetch("select tenant_id, lexeme, df from keyword_term_stats")
            assert {r["tenant_id"] for r in rows} == {tenant_a}
            assert await app.fetchval("select chunk_count from keyword_corpus_stats") == 3
    finally:
        await app.close()


async def test_migration_backfills_existing_chunks_as_a_non_superuser_owner(
    pg: EmbeddedPostgres, admin_conn: asyncpg.Connection
) -> None:
    """0002 on a database that already has chunks, applied by a table owner that is not a
    superuser (as on Aurora, where FORCE row-level security applies to the owner too)."""
    database = f"backfill_{uuid.uuid4().hex[:8]}"
    owner = "docpipe_test_owner"
    await admin_conn.execute(
        f"do $$ begin if not exists (select from pg_roles where rolname = '{owner}') then"
        f" create role {owner} login createrole; end if; end $$"
    )
    # 0001/0002 give functions to docpipe_maintenance: the owner must be able to (as the
    # master user on Aurora): be a member, and the role needs CREATE on the schema. 0007
    # retires docpipe_app: as on Aurora, where the master created it, it administers it.
    await admin_conn.execute(
        f"grant docpipe_maintenance, docpipe_app, docpipe_upload, docpipe_query,"
        f" docpipe_processor to {owner} with admin option"
    )
    await admin_conn.execute(f'create database "{database}" owner {owner}')
    try:
        su = await asyncpg.connect(pg.dsn(database=database))
        try:
            first = load_migrations(embedding_dimensions=TEST_DIMENSIONS)[0]
            assert first.version == "0001_init"
            await su.execute(first.sql)
            await su.execute(
                "create table schema_migrations (version text primary key, checksum text"
                " not null, embedding_dimensions integer not null, applied_at timestamptz"
                " not null default now());"
                f"insert into schema_migrations values ('{first.version}', '{first.checksum}',"
                f" {TEST_DIMENSIONS});"
                f"alter table documents owner to {owner}; alter table chunks owner to {owner};"
                f"alter table embedding_cache owner to {owner};"
                f"alter table schema_migrations owner to {owner};"
                "grant create on schema public to docpipe_maintenance;"
            )
            vector = "[" + ",".join(["0"] * TEST_DIMENSIONS) + "]"
            for tenant, texts in {"t1": ["red apple", "green apple"], "t2": ["pear"]}.items():
                doc = uuid.uuid4()
                await su.execute(
                    "insert into documents (id, tenant_id, filename, content_type, size_bytes,"
                    " storage_key, status) values ($1, $2, 'f', 't', 1, $3, 'completed')",
                    doc,
                    tenant,
                    f"k/{doc}",
                )
                for i, text in enumerate(texts):
                    await su.execute(
                        "insert into chunks (id, tenant_id, document_id, ordinal, page_start,"
                        " page_end, text, content_sha256, embedding, keywords) values"
                        " ($1, $2, $3, $4, 1, 1, $5, 'x', $6::vector, to_tsvector('english', $5))",
                        uuid.uuid4(),
                        tenant,
                        doc,
                        i,
                        text,
                        vector,
                    )
        finally:
            await su.close()
        conn = await asyncpg.connect(pg.dsn(user=owner, database=database))
        try:
            assert not await conn.fetchval(
                "select rolsuper from pg_roles where rolname = $1", owner
            )
            assert await conn.fetchval("select count(*) from chunks") == 0  # FORCE applies
            assert await apply_migrations(conn, embedding_dimensions=TEST_DIMENSIONS) == [
                m.version for m in load_migrations(embedding_dimensions=TEST_DIMENSIONS)[1:]
            ]
        finally:
            await conn.close()
        check = await asyncpg.connect(pg.dsn(database=database))
        try:
            for tenant in ("t1", "t2"):
                await _assert_exact(check, tenant)
            assert (
                await check.fetchval(
                    "select df from keyword_term_stats where tenant_id = 't1' and lexeme = 'appl'"
                )
                == 2
            )
            assert await check.fetchval(
                "select relforcerowsecurity from pg_class where relname = 'chunks'"
            )
        finally:
            await check.close()
    finally:
        await admin_conn.execute(f'drop database "{database}" with (force)')


# --- BM25 against a reference implementation -------------------------------------------

CORPUS = [
    "Annual leave accrues monthly; unused annual leave carries over one year.",
    "Sick leave requires a doctor's note after three consecutive days of leave.",
    "Parental leave is sixteen weeks, paid at full salary.",
    "Remote work requests go to your manager for approval.",
    "The travel policy covers flights, hotels and meals; leave days are separate.",
    "Overtime is paid at one and a half times the hourly rate.",
    "Public holidays are listed in the holiday calendar.",
    "Leave, leave, leave: every kind of leave is recorded in the HR portal.",
    "Expense reports need receipts and manager approval within thirty days.",
    "The handbook explains annual reviews, salary bands and promotions.",
]


async def _reference_bm25(
    conn: asyncpg.Connection, query: str, params: BM25
) -> dict[uuid.UUID, float]:
    """Okapi BM25 (Lucene idf) in Python over the tenant's stored lexemes."""
    from docpipe.common.keywords import keyword_text, tsvector_sql

    words = keyword_text(query)
    terms = await conn.fetchval(
        f"select tsvector_to_array({tsvector_sql('$1', '$2')})", words.latin, words.cjk
    )
    rows = await conn.fetch("select id, keywords::text as kw from chunks")
    docs: dict[uuid.UUID, Counter[str]] = {}
    for row in rows:
        tf: Counter[str] = Counter()
        for item in row["kw"].split(" "):
            lexeme, _, positions = item.rpartition(":")
            tf[lexeme.strip("'")] = len(positions.split(","))
        docs[row["id"]] = tf
    n = len(docs)
    avgdl = sum(len(tf) for tf in docs.values()) / n
    scores: dict[uuid.UUID, float] = {}
    for chunk_id, tf in docs.items():
        score = 0.0
        for term in terms:
            if tf[term]:
                df = sum(1 for other in docs.values() if other[term])
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                norm = 1 - params.b + params.b * len(tf) / avgdl
                score += idf * tf[term] * (params.k1 + 1) / (tf[term] + params.k1 * norm)
        if score:
            scores[chunk_id] = score
    return scores


async def test_keyword_ranking_equals_reference_bm25(
    admin_conn: asyncpg.Connection, app_pool: asyncpg.Pool, query_pool: asyncpg.Pool, tenant: str
) -> None:
    doc = await _new_document(admin_conn, tenant)
    await _process(app_pool, tenant=tenant, doc_id=doc, texts=CORPUS)
    other = await _new_document(admin_conn, tenant)
    await _process(app_pool, tenant=tenant, doc_id=other, texts=CORPUS[:3])
    params = BM25()
    for query in ("annual leave", "manager approval of leave", "holiday calendar salary"):
        async with tenant_transaction(query_pool, tenant, readonly=True) as conn:
            reference = await _reference_bm25(conn, query, params)
            hits = await keyword_search(conn, query=query, limit=50, scope=None)
        assert {h.chunk_id for h in hits} == set(reference)
        for hit in hits:
            assert hit.score == pytest.approx(reference[hit.chunk_id], rel=1e-9)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_candidate_budget_keeps_rare_term_matches_and_top_k(
    admin_conn: asyncpg.Connection, app_pool: asyncpg.Pool, query_pool: asyncpg.Pool, tenant: str
) -> None:
    doc = await _new_document(admin_conn, tenant)
    await _process(app_pool, tenant=tenant, doc_id=doc, texts=CORPUS)
    tight = BM25(candidate_budget=1)  # candidates: the rarest term only, then a top-up
    async with tenant_transaction(query_pool, tenant, readonly=True) as conn:
        reference = await _reference_bm25(conn, "leave handbook", BM25())
        best = max(reference, key=lambda k: reference[k])
        hits = await keyword_search(conn, query="leave handbook", limit=3, scope=None, bm25=tight)
        # 'handbook' (df 1) is the rarest term: its chunk is a candidate and ranks first;
        # the top-up from 'leave' (df 5) still fills top_k; every score is the full BM25.
        assert len(hits) == 3 and hits[0].chunk_id == best
        for hit in hits:
            assert hit.score == pytest.approx(reference[hit.chunk_id], rel=1e-9)
        everything = await keyword_search(
            conn, query="leave handbook", limit=50, scope=None, bm25=tight
        )
        assert {h.chunk_id for h in everything} == set(reference)


async def test_a_budget_below_every_terms_df_prefers_chunks_with_all_terms(
    admin_conn: asyncpg.Connection, app_pool: asyncpg.Pool, query_pool: asyncpg.Pool, tenant: str
) -> None:
    doc = await _new_document(admin_conn, tenant)
    await _process(app_pool, tenant=tenant, doc_id=doc, texts=CORPUS)
    capped = BM25(candidate_budget=1)  # 'annual' (df 2) and 'leave' (df 5) both exceed it
    async with tenant_transaction(query_pool, tenant, readonly=True) as conn:
        reference = await _reference_bm25(conn, "annual leave", BM25())
        hits = await keyword_search(conn, query="annual leave", limit=4, scope=None, bm25=capped)
    # The chunk with both terms first, then the rarest term's, then the rest up to top_k.
    assert hits[0].chunk_id == max(reference, key=lambda k: reference[k])
    assert "annual" in hits[0].text.lower() and "leave" in hits[0].text.lower()
    assert len(hits) == 4 and any("handbook" in h.text for h in hits)
    for hit in hits:
        assert hit.score == pytest.approx(reference[hit.chunk_id], rel=1e-9)
