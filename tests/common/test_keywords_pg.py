"""The keyword leg against real PostgreSQL: GIN-indexed tsvector, CJK bigrams, English stems."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from docpipe.common.keywords import keyword_text, rank_sql, tsquery_sql, tsvector_sql
from docpipe.devstack.embedded import EmbeddedPostgres

ROWS = {
    1: "員工請假規定：員工請假應於三日前提出申請。",
    2: "特休假：員工到職滿六個月者，給予三日特休假。",
    3: "休息時間：每工作四小時應有三十分鐘休息。",
    4: "The employee handbook describes annual leave.",
    5: "國定假日如遇休假，另行補假一日。",  # shares only the bigram 休假 with 特休假
    6: "ＡＢＣ Corporation travel policy",
    7: "abc 公司差旅規定",
}


@pytest.fixture
async def conn(pg: EmbeddedPostgres) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg.admin_dsn)
    await conn.execute(
        "create temp table kw_docs (id int primary key, body text not null,"
        " keywords tsvector not null);"
        "create index kw_docs_keywords on kw_docs using gin (keywords);"
    )
    for row_id, body in ROWS.items():
        kw = keyword_text(body)
        await conn.execute(
            f"insert into kw_docs values ($1, $2, {tsvector_sql('$3', '$4')})",
            row_id,
            body,
            kw.latin,
            kw.cjk,
        )
    await conn.execute("analyze kw_docs")
    yield conn
    await conn.close()


async def search(conn: asyncpg.Connection, query: str) -> list[int]:
    kw = keyword_text(query)
    q = tsquery_sql("$1", "$2")
    rows = await conn.fetch(
        f"select id from kw_docs where keywords @@ {q} order by {rank_sql('keywords', q)} desc, id",
        kw.latin,
        kw.cjk,
    )
    return [r["id"] for r in rows]


async def test_traditional_chinese_query_finds_the_right_row(conn: asyncpg.Connection) -> None:
    # Row 2 has both bigrams of 特休假; row 5 only 休假; rows 1 and 3 share single
    # characters (假, 休) but no bigram, and must not match.
    assert await search(conn, "特休假") == [2, 5]
    assert await search(conn, "請假") == [1]
    found = await search(conn, "員工請假規定")
    assert found[0] == 1 and set(found) == {1, 2, 7}  # 2 shares 員工, 7 shares 規定


async def test_a_natural_question_ranks_by_shared_bigrams(conn: asyncpg.Connection) -> None:
    found = await search(conn, "員工的特休假有幾天？")
    assert found[0] == 2
    assert 3 not in found and 4 not in found


async def test_english_stemming_and_any_term_matching(conn: asyncpg.Connection) -> None:
    assert await search(conn, "employees") == [4]
    assert await search(conn, "Leaves") == [4]
    assert set(await search(conn, "annual policies")) == {4, 6}  # OR: partial matches count
    assert await search(conn, "the of and") == []  # stop words only: no match, no error
    assert await search(conn, "") == []


async def test_full_width_latin_matches_half_width(conn: asyncpg.Connection) -> None:
    assert await search(conn, "abc") == [6, 7]
    assert await search(conn, "ＡＢＣ") == [6, 7]


async def test_mixed_language_query(conn: asyncpg.Connection) -> None:
    assert set(await search(conn, "employee 請假")) == {1, 4}


async def test_the_gin_index_serves_the_query(conn: asyncpg.Connection) -> None:
    kw = keyword_text("特休假 employee")
    await conn.execute("set enable_seqscan = off")
    sql = f"explain select id from kw_docs where keywords @@ {tsquery_sql('$1', '$2')}"
    plan = "\n".join(r[0] for r in await conn.fetch(sql, kw.latin, kw.cjk))
    assert "Bitmap Index Scan on kw_docs_keywords" in plan


async def test_cjk_tokens_are_indexed_verbatim(conn: asyncpg.Connection) -> None:
    # Locale independence: Postgres must keep every ASCII token exactly as produced.
    kw = keyword_text("員工請假規定 ひらがな カタカナー 한국어 𠀀𠀁 々〆 ｶﾅ 丨")
    lexemes = await conn.fetchval("select tsvector_to_array(to_tsvector('simple', $1))", kw.cjk)
    assert sorted(lexemes) == sorted(set(kw.cjk.split()))
