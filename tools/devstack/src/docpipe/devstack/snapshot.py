"""Keep moto's in-memory bucket on disk so local documents survive a restart.

The current version of every object (bytes, content type, user metadata) is written under
``root``: one data file per key (named by the key's SHA-256) and an ``index.json`` that
maps keys to files and ETags. Saving writes only objects whose ETag changed and drops
files of deleted keys; the index is replaced atomically, so a crash mid-save leaves the
previous snapshot readable.

The local stack runs moto in its own process, so the bucket is read and restored through
moto's backend objects rather than its HTTP API. Through the API, a save listed the whole
bucket and downloaded each new object over HTTP every 30 s: 3.3 CPU-s for an unchanged
bucket of 5,000 objects and 62 CPU-s to save 5,000 new ones (docs/benchmarks.md §7).
In process, an unchanged bucket costs a dictionary walk (milliseconds) and a new object
one file write. Restoring puts the objects back with notifications off.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["S3Snapshot"]

_META_PREFIX = "x-amz-meta-"


@dataclass(frozen=True)
class _Object:
    etag: str
    content_type: str
    metadata: dict[str, str]
    data: bytes


class _MotoBucket:
    """One bucket of the moto server running in this process (its current versions)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _backend(self) -> Any:
        from moto.s3.models import s3_backends

        partition, account = s3_backends.bucket_accounts[self.name]
        return s3_backends[account][partition]

    def _current(self) -> Iterator[tuple[str, Any]]:
        bucket = self._backend().get_bucket(self.name)
        for key, version in bucket.keys.items():  # a copy: safe while requests run
            if hasattr(version, "value"):  # not a delete marker
                yield key, version

    def etags(self) -> dict[str, str]:
        return {key: version.etag for key, version in self._current()}

    def read(self, key: str) -> _Object | None:
        version = self._backend().get_bucket(self.name).keys.get(key)
        if version is None or not hasattr(version, "value"):
            return None
        headers = dict(version.metadata)
        content_type = next(
            (v for k, v in headers.items() if k.lower() == "content-type"), "binary/octet-stream"
        )
        metadata = {
            k[len(_META_PREFIX) :]: v
            for k, v in headers.items()
            if k.lower().startswith(_META_PREFIX)
        }
        return _Object(
            etag=version.etag, content_type=content_type, metadata=metadata, data=version.value
        )

    def put(
        self, key: str, *, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> str | None:
        """Store an object without an S3 notification; its version id (None: unversioned)."""
        stored = self._backend().put_object(self.name, key, data, disable_notification=True)
        stored.set_metadata(
            {"Content-Type": content_type, **{_META_PREFIX + k: v for k, v in metadata.items()}}
        )
        version: str = stored.version_id
        return None if version == "null" else version  # moto's name for "unversioned"


class S3Snapshot:
    def __init__(self, *, bucket: str, root: Path) -> None:
        self.bucket, self.root = _MotoBucket(bucket), root
        self.index_path = root / "index.json"
        self._entries: dict[str, dict[str, Any]] | None = None

    def _index(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = (
                json.loads(self.index_path.read_text("utf-8")) if self.index_path.exists() else {}
            )
        return self._entries

    def restore(self) -> dict[str, str | None]:
        """Put every snapshotted object back into the (empty) bucket; return each key's
        new version id (S3 gives a restored object a new one; None if unversioned)."""
        versions: dict[str, str | None] = {}
        for key, entry in self._index().items():
            versions[key] = self.bucket.put(
                key,
                data=(self.root / entry["file"]).read_bytes(),
                content_type=entry["content_type"],
                metadata=entry["metadata"],
            )
        return versions

    def save(self) -> int:
        """Bring the snapshot up to date with the bucket; return how many entries changed."""
        old = self._index()
        current = self.bucket.etags()
        new: dict[str, dict[str, Any]] = {}
        changed = 0
        for key, etag in current.items():
            entry = old.get(key)
            if entry is None or entry["etag"] != etag:
                written = self._write(key)
                if written is None:  # deleted since the listing
                    continue
                entry = written
                changed += 1
            new[key] = entry
        for key in old.keys() - new.keys():
            (self.root / old[key]["file"]).unlink(missing_ok=True)
            changed += 1
        if changed:
            tmp = self.index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(new, indent=1, sort_keys=True), "utf-8")
            os.replace(tmp, self.index_path)
        self._entries = new
        return changed

    def _write(self, key: str) -> dict[str, Any] | None:
        obj = self.bucket.read(key)
        if obj is None:
            return None
        name = hashlib.sha256(key.encode()).hexdigest()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{name}.tmp"
        tmp.write_bytes(obj.data)
        os.replace(tmp, self.root / name)
        return {
            "file": name,
            "etag": obj.etag,
            "content_type": obj.content_type,
            "metadata": obj.metadata,
        }
