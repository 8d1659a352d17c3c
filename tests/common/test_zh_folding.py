"""Traditional and Simplified Chinese match each other in the keyword leg (請假 ↔ 请假).

The application folds at index and query time (docpipe.common.keywords); migration 0004
re-folds chunks indexed before it. The test below builds a database at 0003 with chunks
tokenized the old way (no folding) holding every character the application folds, applies
0004 as a non-superuser table owner (FORCE row-level security applies to it, as on
Aurora), and requires exactly the tsvectors and statistics the application now writes.
"""

from __future__ import annotations

import uuid

from docpipe.common.keywords import _CJK_RANGES, fold_chinese, keyword_text, tsvector_sql
from docpipe.common.migrations import apply_migrations, load_migrations
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.testkit.master_database import apply_as_released, master_database
from tests.common.test_keyword_stats import _assert_exact
from tests.conftest import TEST_DIMENSIONS


def _folded_characters() -> str:
    return "".join(
        chr(cp)
        for lo, hi in _CJK_RANGES
        for cp in range(lo, hi + 1)
        if fold_chinese(chr(cp)) != chr(cp)
    )


def _unfolded_tokens(text: str) -> str:
    """The CJK tokens as the tokenizer wrote them before folding existed (0001-0003)."""
    from docpipe.common.keywords import _CJK_RUN, _token

    tokens: list[str] = []
    for run in _CJK_RUN.findall(text):
        tokens += (
            [_token(run)]
            if len(run) == 1
            else [_token(run[i : i + 2]) for i in range(len(run) - 1)]
        )
    return " ".join(tokens)


def test_folding_is_idempotent_and_maps_both_scripts_together() -> None:
    assert keyword_text("請假").cjk == keyword_text("请假").cjk
    assert keyword_text("臺灣員工請病假").cjk == keyword_text("台湾员工请病假").cjk
    assert keyword_text("薴").cjk == keyword_text("苧").cjk == keyword_text("苎").cjk
    chars = _folded_characters()
    assert len(chars) > 4000
    assert fold_chinese(fold_chinese(chars)) == fold_chinese(chars)
    # Full-width Latin and half-width katakana fold too (NFKC).
    assert keyword_text("ＶＰＮ設定").latin == keyword_text("VPN设定").latin == "VPN"
    assert keyword_text("ｶﾀｶﾅ").cjk == keyword_text("カタカナ").cjk


async def test_migration_0004_refolds_existing_chunks(migrated: EmbeddedPostgres) -> None:
    chars = _folded_characters()
    texts = {
        "t1": [chars, "員工請假須事先申請 annual leave", "员工请假须事先申请", "plain English"],
        "t2": ["臺灣 請假", "台湾 请假 請假"],
    }
    async with master_database(migrated, prefix="zhfold") as database:
        conn = await database.connect()
        try:
            migrations = load_migrations(embedding_dimensions=TEST_DIMENSIONS)
            assert migrations[3].version.startswith("0004")
            # 0001-0003 as released, then chunks written the old way.
            await apply_as_released(conn, migrations[:3], embedding_dimensions=TEST_DIMENSIONS)
            vector = "[" + ",".join(["0.1"] * TEST_DIMENSIONS) + "]"
            for tenant, chunk_texts in texts.items():
                async with conn.transaction():
                    await conn.execute("select set_config('app.tenant_id', $1, true)", tenant)
                    doc = uuid.uuid4()
                    await conn.execute(
                        "insert into documents (id, tenant_id, filename, content_type,"
                        " size_bytes, storage_key, status) values"
                        " ($1, $2, 'f', 't', 1, $3, 'completed')",
                        doc,
                        tenant,
                        f"k/{doc}",
                    )
                    for i, text in enumerate(chunk_texts):
                        await conn.execute(
                            "insert into chunks (id, tenant_id, document_id, ordinal, page_start,"
                            " page_end, text, content_sha256, embedding, keywords) values"
                            f" ($1, $2, $3, $4, 1, 1, $5, 'x', $6::vector,"
                            f" {tsvector_sql('$7', '$8')})",
                            uuid.uuid4(),
                            tenant,
                            doc,
                            i,
                            text,
                            vector,
                            keyword_text(text).latin,
                            _unfolded_tokens(text),
                        )
            applied = await apply_migrations(conn, embedding_dimensions=TEST_DIMENSIONS)
            assert applied[0] == migrations[3].version
        finally:
            await conn.close()
        check = await database.connect(as_master=False)
        try:
            rows = await check.fetch("select text, keywords::text as stored from chunks")
            assert len(rows) == 6
            for row in rows:
                words = keyword_text(row["text"])
                expected = await check.fetchval(
                    f"select {tsvector_sql('$1', '$2')}::text", words.latin, words.cjk
                )
                assert row["stored"] == expected, row["text"][:40]
            for tenant in texts:
                await _assert_exact(check, tenant)
            # 臺灣 and 台湾 merged: t2's two chunks share one folded bigram, df 2.
            taiwan = keyword_text("台湾").cjk
            assert (
                await check.fetchval(
                    "select df from keyword_term_stats where tenant_id = 't2' and lexeme = $1",
                    taiwan,
                )
                == 2
            )
            assert await check.fetchval(
                "select bool_and(relforcerowsecurity) from pg_class where relname in"
                " ('chunks', 'keyword_term_stats', 'keyword_corpus_stats')"
            )
        finally:
            await check.close()
