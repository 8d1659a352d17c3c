"""Conversations and their messages in Postgres, each visible to its caller only.

Row-level security (migration 0004) admits a row when both its tenant and its owner match
the transaction's ``app.tenant_id`` and ``app.subject``; :func:`caller_transaction` sets
both, so another user's or tenant's conversation id simply finds nothing (404 upstream).

A turn (the user's question and the assistant's answer) is written in one transaction once
the answer is complete: a failed or abandoned answer leaves no half turn behind.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from docpipe.common.access import visible_sql
from docpipe.common.auth import Principal
from docpipe.common.db import tenant_transaction
from docpipe.query.exceptions import InvalidCursor

__all__ = [
    "Caller",
    "StoredTurn",
    "caller_transaction",
    "conversation_exists",
    "decode_cursor",
    "delete_conversation",
    "encode_cursor",
    "get_conversation",
    "list_conversations",
    "recent_turns",
    "record_turn",
]

_TITLE_CHARS = 80
_MAX_CURSOR_CHARS = 512


@dataclass(frozen=True)
class Caller:
    """Who owns conversations: the tenant and the JWT subject (``principal`` has one)."""

    principal: Principal

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    @property
    def subject(self) -> str:
        assert self.principal.subject is not None  # deps.current_caller requires it
        return self.principal.subject


@asynccontextmanager
async def caller_transaction(
    pool: asyncpg.Pool, caller: Caller, **options: Any
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that sees only ``caller``'s conversations (and the documents its
    groups may see): tenant_transaction sets ``app.subject`` with the tenant."""
    async with tenant_transaction(pool, caller.principal, **options) as conn:
        yield conn


@dataclass(frozen=True)
class StoredTurn:
    question: str
    standalone_query: str
    answer: str


async def conversation_exists(conn: asyncpg.Connection, *, conversation_id: uuid.UUID) -> bool:
    found = await conn.fetchval("select true from conversations where id = $1", conversation_id)
    return bool(found)


async def recent_turns(
    conn: asyncpg.Connection, *, conversation_id: uuid.UUID, limit: int
) -> list[StoredTurn]:
    """The last ``limit`` complete turns, oldest first."""
    rows = await conn.fetch(
        "select u.content as question, coalesce(u.standalone_query, u.content) as standalone,"
        " a.content as answer from messages u join messages a"
        " on a.conversation_id = u.conversation_id and a.turn = u.turn and a.role = 'assistant'"
        " where u.conversation_id = $1 and u.role = 'user' order by u.turn desc limit $2",
        conversation_id,
        limit,
    )
    return [
        StoredTurn(question=r["question"], standalone_query=r["standalone"], answer=r["answer"])
        for r in reversed(rows)
    ]


def _title(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"


async def record_turn(
    conn: asyncpg.Connection,
    *,
    caller: Caller,
    conversation_id: uuid.UUID,
    question: str,
    standalone_query: str,
    answer: str,
    citations: Sequence[dict[str, Any]],
    model: str,
    user_message_id: uuid.UUID,
    assistant_message_id: uuid.UUID,
) -> None:
    """Append a turn, creating the conversation on its first one.

    The conversation row is locked first, so concurrent turns of one conversation get
    consecutive numbers.
    """
    await conn.execute(
        "insert into conversations (id, tenant_id, owner_sub, title) values ($1, $2, $3, $4)"
        " on conflict (id) do update set updated_at = now()",
        conversation_id,
        caller.tenant_id,
        caller.subject,
        _title(question),
    )
    await conn.execute("select 1 from conversations where id = $1 for update", conversation_id)
    turn = await conn.fetchval(
        "select coalesce(max(turn), 0) + 1 from messages where conversation_id = $1",
        conversation_id,
    )
    await conn.executemany(
        "insert into messages (id, tenant_id, owner_sub, conversation_id, turn, role, content,"
        " standalone_query, citations, model) values ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9::jsonb, $10)",
        [
            (user_message_id, caller.tenant_id, caller.subject, conversation_id, turn, "user",
             question, standalone_query, "[]", None),
            (assistant_message_id, caller.tenant_id, caller.subject, conversation_id, turn,
             "assistant", answer, None, json.dumps(list(citations), default=str), model),
        ],
    )  # fmt: skip


def encode_cursor(updated_at: datetime, conversation_id: uuid.UUID) -> str:
    payload = json.dumps({"u": updated_at.isoformat(), "i": str(conversation_id)})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError("too long")
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        updated_at = datetime.fromisoformat(payload["u"])
        if updated_at.tzinfo is None:
            raise ValueError("naive time")
        return updated_at, uuid.UUID(payload["i"])
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor("cursor is not one this service issued") from exc


async def list_conversations(
    conn: asyncpg.Connection, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[asyncpg.Record]:
    """The caller's conversations, most recently updated first, after the cursor."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "select id, title, created_at, updated_at from conversations"
        " where $1::timestamptz is null or (updated_at, id) < ($1, $2)"
        " order by updated_at desc, id desc limit $3",
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return rows


async def get_conversation(
    conn: asyncpg.Connection, *, caller: Caller, conversation_id: uuid.UUID
) -> tuple[asyncpg.Record, list[dict[str, Any]]] | None:
    """The conversation and its messages in order; citations only of documents the caller
    can still see (a deleted document, or one since restricted to groups the caller is not
    in, drops out)."""
    head = await conn.fetchrow(
        "select id, title, created_at from conversations where id = $1", conversation_id
    )
    if head is None:
        return None
    rows = await conn.fetch(
        "select id, role, content, citations::text as citations, created_at from messages"
        " where conversation_id = $1 order by turn, role desc",
        conversation_id,
    )
    messages = [dict(r) | {"citations": json.loads(r["citations"])} for r in rows]
    cited = {c["document_id"] for m in messages for c in m["citations"]}
    args: list[object] = [[uuid.UUID(d) for d in cited]]

    def add(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    readable = visible_sql(
        "access", groups=caller.principal.groups, admin=caller.principal.admin, add_param=add
    )
    visible = {
        str(r["id"])
        for r in await conn.fetch(
            f"select id from documents where id = any($1::uuid[]) and {readable}", *args
        )
    }
    for message in messages:
        if message["role"] == "assistant":
            message["citations"] = [c for c in message["citations"] if c["document_id"] in visible]
        else:
            message["citations"] = None
    return head, messages


async def delete_conversation(conn: asyncpg.Connection, *, conversation_id: uuid.UUID) -> bool:
    status = await conn.execute("delete from conversations where id = $1", conversation_id)
    return bool(status == "DELETE 1")
