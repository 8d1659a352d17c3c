"""After a restart, point documents at the new S3 version ids of their restored objects.

moto keeps S3 in memory: the local stack puts each object back from its snapshot
(:mod:`docpipe.devstack.snapshot`), and S3 gives every restored object a new version id.
A document is made from one version id (``object_version``, and ``processed_version``
for duplicate deliveries; docpipe.processor.document_rows). Left naming the old id, its
reprocessing would read a version that no longer exists ("the uploaded object no longer
exists"), and a notification of the restored object would look like a presigned POST
used again, which the processor deletes. Runs as the database owner, before any service.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

__all__ = ["repin_restored_versions"]

_REPIN = """
update documents d
   set object_version = case when d.object_version is null then null else r.version_id end,
       processed_version = case
           when d.processed_version is null then null else r.version_id end
  from unnest($1::text[], $2::text[]) as r(storage_key, version_id)
 where d.storage_key = r.storage_key
   and (d.object_version is not null or d.processed_version is not null)
"""


async def repin_restored_versions(*, admin_dsn: str, versions: Mapping[str, str | None]) -> int:
    """Give each document of a restored key that key's new version id; return how many."""
    restored = {key: version for key, version in versions.items() if version is not None}
    if not restored:
        return 0
    conn = await asyncpg.connect(admin_dsn)
    try:
        status = await conn.execute(_REPIN, list(restored), list(restored.values()))
    finally:
        await conn.close()
    return int(status.split()[-1])
