"""Keep moto's in-memory bucket on disk so local documents survive a restart.

The current version of every object (bytes, content type, user metadata) is written under
``root``: one data file per key (named by the key's SHA-256) and an ``index.json`` that
maps keys to files and ETags. Saving writes only objects whose ETag changed and drops
files of deleted keys; the index is replaced atomically, so a crash mid-save leaves the
previous snapshot readable.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["S3Snapshot"]


class S3Snapshot:
    def __init__(self, *, s3: Any, bucket: str, root: Path) -> None:
        self.s3, self.bucket, self.root = s3, bucket, root
        self.index_path = root / "index.json"

    def _index(self) -> dict[str, dict[str, Any]]:
        if not self.index_path.exists():
            return {}
        entries: dict[str, dict[str, Any]] = json.loads(self.index_path.read_text("utf-8"))
        return entries

    def restore(self) -> dict[str, str | None]:
        """Put every snapshotted object back into the (empty) bucket; return each key's
        new version id (S3 gives a restored object a new one; None if unversioned)."""
        versions: dict[str, str | None] = {}
        for key, entry in self._index().items():
            put = self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=(self.root / entry["file"]).read_bytes(),
                ContentType=entry["content_type"],
                Metadata=entry["metadata"],
            )
            versions[key] = put.get("VersionId")
        return versions

    def save(self) -> int:
        """Bring the snapshot up to date with the bucket; return how many entries changed."""
        old = self._index()
        current = self._list()
        new: dict[str, dict[str, Any]] = {}
        changed = 0
        for key, etag in current.items():
            entry = old.get(key)
            if entry is None or entry["etag"] != etag:
                entry = self._write(key)
                changed += 1
            new[key] = entry
        for key in old.keys() - current.keys():
            (self.root / old[key]["file"]).unlink(missing_ok=True)
            changed += 1
        if changed:
            tmp = self.index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(new, indent=1, sort_keys=True), "utf-8")
            os.replace(tmp, self.index_path)
        return changed

    def _list(self) -> dict[str, str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            obj["Key"]: obj["ETag"]
            for page in paginator.paginate(Bucket=self.bucket)
            for obj in page.get("Contents", [])
        }

    def _write(self, key: str) -> dict[str, Any]:
        obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        name = hashlib.sha256(key.encode()).hexdigest()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{name}.tmp"
        tmp.write_bytes(obj["Body"].read())
        os.replace(tmp, self.root / name)
        return {
            "file": name,
            "etag": obj["ETag"],
            "content_type": obj.get("ContentType", "binary/octet-stream"),
            "metadata": obj.get("Metadata", {}),
        }
