"""Page numbers mean PDF pages, slides and sheets; other formats have none (docs/api.md).

A text document's chunks carry no page numbers and the document no page count, through
the processor and in search results; a PDF keeps its pages. Migration 0006 turns the
logical section numbers older chunks of page-less formats carry into nulls, as a
non-superuser table owner (Aurora's master user), leaving row-level security forced and
the keyword statistics untouched.
"""

from __future__ import annotations

import uuid

import asyncpg
import boto3
import httpx

from docpipe.common.migrations import apply_migrations, load_migrations
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.processor import handler as processor
from docpipe.query.config import QuerySettings
from docpipe.query.main import create_app
from docpipe.testkit.documents import put_document
from docpipe.testkit.events import sqs_event
from docpipe.testkit.master_database import apply_as_released, master_database
from docpipe.testkit.pdfs import make_pdf
from tests.conftest import TEST_DIMENSIONS

PAGED = "application/pdf"


async def test_text_has_no_pages_and_a_pdf_keeps_them(
    admin_conn: asyncpg.Connection, aws: AwsResources
) -> None:
    """Through the processor, then through search (AUTH_MODE=none: tenant ``default``)."""
    word = f"zq{uuid.uuid4().hex[:10]}"  # found only in this test's two documents
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    text = await put_document(
        admin_conn,
        s3,
        aws.bucket,
        tenant="default",
        data=(f"Parental leave lasts sixteen weeks {word}. " * 80).encode(),
        content_type="text/plain",
    )
    pdf = await put_document(
        admin_conn,
        s3,
        aws.bucket,
        tenant="default",
        data=make_pdf([f"Overtime is paid at 150 percent {word}.", "Remote work needs approval."]),
    )
    result = await processor.handle_event(sqs_event(text.body(aws.bucket), pdf.body(aws.bucket)))
    assert result == {"batchItemFailures": []}
    counts = dict(
        await admin_conn.fetch(
            "select id, page_count from documents where id = any($1::uuid[])", [text.id, pdf.id]
        )
    )
    assert counts == {text.id: None, pdf.id: 2}

    app = create_app(QuerySettings(auth_mode="none"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://query"
    ) as client:
        response = await client.post(
            "/v1/search", json={"query": word, "mode": "keyword", "top_k": 10}
        )
    assert response.status_code == 200, response.text
    pages = {(r["document_id"], r["page_start"], r["page_end"]) for r in response.json()["results"]}
    assert pages == {(str(text.id), None, None), (str(pdf.id), 1, 2)}  # one chunk, two pages


async def test_migration_0006_clears_pages_of_formats_without_pages(
    migrated: EmbeddedPostgres,
) -> None:
    async with master_database(migrated, prefix="pages") as database:
        conn = await database.connect()
        try:
            migrations = load_migrations(embedding_dimensions=TEST_DIMENSIONS)
            assert migrations[5].version.startswith("0006")
            await apply_as_released(conn, migrations[:5], embedding_dimensions=TEST_DIMENSIONS)
            docs = {"text/plain": uuid.uuid4(), PAGED: uuid.uuid4()}
            vector = "[" + ",".join(["0.1"] * TEST_DIMENSIONS) + "]"
            async with conn.transaction():
                await conn.execute("select set_config('app.tenant_id', 't1', true)")
                for content_type, doc in docs.items():
                    await conn.execute(
                        "insert into documents (id, tenant_id, filename, content_type,"
                        " size_bytes, storage_key, status, page_count) values"
                        " ($1, 't1', 'f', $2, 1, $3, 'completed', 2)",
                        doc,
                        content_type,
                        f"k/{doc}",
                    )
                    for page in (1, 2):
                        await conn.execute(
                            "insert into chunks (id, tenant_id, document_id, ordinal,"
                            " page_start, page_end, text, content_sha256, embedding, keywords)"
                            " values ($1, 't1', $2, $3, $3 + 1, $3 + 1, 'leave policy', 'x',"
                            " $4::vector, to_tsvector('simple', 'leave policy'))",
                            uuid.uuid4(),
                            doc,
                            page - 1,
                            vector,
                        )
            stats_before = await _stats(conn)
            assert await apply_migrations(conn, embedding_dimensions=TEST_DIMENSIONS) == [
                m.version for m in migrations[5:]
            ]
            await conn.reload_schema_state()  # later migrations rebuilt what _stats reads
            assert await _stats(conn) == stats_before
        finally:
            await conn.close()
        check = await database.connect(as_master=False)
        try:
            pages = {
                r["content_type"]: (r["page_count"], sorted(r["starts"], key=str))
                for r in await check.fetch(
                    "select d.content_type, d.page_count, array_agg(c.page_start) as starts"
                    " from documents d join chunks c on c.document_id = d.id"
                    " group by d.content_type, d.page_count"
                )
            }
            assert pages == {"text/plain": (None, [None, None]), PAGED: (2, [1, 2])}
            assert await check.fetchval(
                "select bool_and(relforcerowsecurity) from pg_class"
                " where relname in ('chunks', 'documents')"
            )
            assert await check.fetchval(
                "select bool_and(tgenabled = 'O') from pg_trigger"
                " where tgname = 'chunks_keyword_stats_update'"
            )
        finally:
            await check.close()


async def _stats(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    async with conn.transaction():
        await conn.execute("select set_config('app.tenant_id', 't1', true)")
        rows = await conn.fetch(
            "select tenant_id, lexeme, sum(df) from keyword_term_stats"
            " group by tenant_id, lexeme order by lexeme"
        )
        return [tuple(r) for r in rows]
