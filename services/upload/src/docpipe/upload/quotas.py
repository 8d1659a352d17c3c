"""Per-tenant quotas: documents, stored bytes, uploads per minute, reprocessing per
document per hour (docs/api.md; migration 0007).

The counters live in the database, the one state every Lambda instance shares, inside
the transaction that does the work, so nothing is counted for a request that fails:

- **documents and stored bytes**: ``tenant_usage``, kept exact by a trigger on
  ``documents``. :func:`check_storage` reads it under the tenant's quota lock (held to
  commit), so concurrent uploads of one tenant check and insert one at a time.
- **rates**: GCRA (the generic cell rate algorithm): one timestamp per tenant and limit,
  the "theoretical arrival time". A request of ``n`` units at ``now`` moves it to
  ``max(tat, now) + n × period / limit`` and is admitted when that stays within one
  period of ``now``: at most ``limit`` units per period, bursts included, and the wait
  until the next unit fits is exact (``Retry-After``). One upsert per check.

Defaults come from the upload service's settings; ``tenant_quotas`` overrides them per
tenant (``null``: the default; ``0``: no limit).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from docpipe.upload.config import UploadSettings
from docpipe.upload.exceptions import QuotaExceeded

__all__ = ["check_storage", "take_reprocess", "take_uploads"]

#: ``Retry-After`` of a full document or storage quota: it frees only when documents are
#: deleted or an operator raises the quota, so a client should not retry soon.
FULL_RETRY_AFTER_S = 3600

_RATE_SQL = """
with lim as (
    select coalesce((select q.{column} from tenant_quotas q where q.tenant_id = $1), $3)::int
           as per_period
),
taken as (
    insert into quota_rates as r (tenant_id, key, tat)
    select $1, $2, now() + make_interval(secs => $5::float8 / per_period * $4)
    from lim where per_period > 0 and $4 <= per_period
    on conflict (tenant_id, key) do update
    set tat = greatest(r.tat, now())
              + make_interval(secs => $5::float8 / (select per_period from lim) * $4)
    where greatest(r.tat, now())
          + make_interval(secs => $5::float8 / (select per_period from lim) * $4)
          <= now() + make_interval(secs => $5::float8)
    returning r.tat
),
expired as (
    delete from quota_rates where tenant_id = $1 and key <> $2 and tat < now()
)
select (select per_period from lim) as per_period, (select tat from taken) as taken,
       (select tat from quota_rates where tenant_id = $1 and key = $2) as previous,
       now() as now
"""
_RATE_COLUMNS = ("uploads_per_minute", "reprocess_per_document_per_hour")


@dataclass(frozen=True)
class _Rate:
    key: str
    column: str
    default: int
    period_s: float
    units: int
    what: str


async def _take(conn: asyncpg.Connection, *, tenant_id: str, rate: _Rate) -> None:
    """Admit ``rate.units`` or raise :class:`QuotaExceeded` (nothing is taken then)."""
    assert rate.column in _RATE_COLUMNS
    row = await conn.fetchrow(
        _RATE_SQL.format(column=rate.column),
        tenant_id,
        rate.key,
        rate.default,
        rate.units,
        rate.period_s,
    )
    assert row is not None
    limit = int(row["per_period"])
    if limit == 0 or row["taken"] is not None:
        return
    if rate.units > limit:
        raise QuotaExceeded(
            f"{rate.units} {rate.what} at once exceed this tenant's quota of {limit}",
            quota=rate.column,
            limit=limit,
            retry_after=math.ceil(rate.period_s),
        )
    raise QuotaExceeded(
        f"this tenant's quota of {limit} {rate.what} is used up; retry later",
        quota=rate.column,
        limit=limit,
        retry_after=_wait(row["previous"], row["now"], rate, limit),
    )


def _wait(previous: datetime | None, now: datetime, rate: _Rate, limit: int) -> int:
    """Seconds until ``rate.units`` fit: when ``max(tat, now) + n·T − period`` is reached."""
    tat = max(previous, now) if previous is not None else now
    due = (tat - now).total_seconds() + rate.units * rate.period_s / limit - rate.period_s
    return max(1, math.ceil(due))


async def take_uploads(
    conn: asyncpg.Connection, *, settings: UploadSettings, tenant_id: str, files: int
) -> None:
    """Count ``files`` uploads against the tenant's uploads-per-minute quota."""
    await _take(
        conn,
        tenant_id=tenant_id,
        rate=_Rate(
            key="uploads",
            column="uploads_per_minute",
            default=settings.quota_uploads_per_minute,
            period_s=60.0,
            units=files,
            what="uploads per minute",
        ),
    )


async def take_reprocess(
    conn: asyncpg.Connection,
    *,
    settings: UploadSettings,
    tenant_id: str,
    document_id: uuid.UUID,
) -> None:
    """Count one reprocessing of the document against its per-hour quota."""
    await _take(
        conn,
        tenant_id=tenant_id,
        rate=_Rate(
            key=f"reprocess:{document_id}",
            column="reprocess_per_document_per_hour",
            default=settings.quota_reprocess_per_document_per_hour,
            period_s=3600.0,
            units=1,
            what="reprocessings of this document per hour",
        ),
    )


async def check_storage(
    conn: asyncpg.Connection, *, settings: UploadSettings, size_bytes: int, documents: int = 1
) -> None:
    """Room for ``documents`` more documents of ``size_bytes`` in all, or
    :class:`QuotaExceeded`.

    Takes the tenant's quota lock until the transaction ends: insert the document in the
    same transaction (the usage trigger counts it) so the next upload sees it.
    """
    row = await conn.fetchrow(
        "select * from docpipe_quota_usage($1, $2)",
        settings.quota_max_documents,
        settings.quota_max_stored_bytes,
    )
    assert row is not None
    max_documents, max_bytes = int(row["max_documents"]), int(row["max_stored_bytes"])
    if max_documents and row["documents"] + documents > max_documents:
        raise QuotaExceeded(
            f"this tenant's quota of {max_documents} documents is reached; delete documents"
            " or ask an operator to raise it",
            quota="max_documents",
            limit=max_documents,
            retry_after=FULL_RETRY_AFTER_S,
        )
    if max_bytes and row["stored_bytes"] + size_bytes > max_bytes:
        raise QuotaExceeded(
            f"this tenant's quota of {max_bytes} stored bytes would be exceeded"
            f" ({row['stored_bytes']} stored, {size_bytes} more); delete documents or ask"
            " an operator to raise it",
            quota="max_stored_bytes",
            limit=max_bytes,
            retry_after=FULL_RETRY_AFTER_S,
        )
