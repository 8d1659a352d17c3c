"""The local stack's S3 snapshot: what it saves comes back the same after a restart.

The snapshot reads and restores moto's bucket in process (the session's moto server runs
in this process, as the local stack's does); objects are written and read back through
the S3 API, as the services see them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from docpipe.devstack.snapshot import S3Snapshot

REGION = "ap-northeast-1"


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)


def _bucket(s3: Any) -> str:
    name = f"snap-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _object(s3: Any, bucket: str, key: str) -> tuple[bytes, str, dict[str, str]]:
    got = s3.get_object(Bucket=bucket, Key=key)
    return got["Body"].read(), got["ContentType"], got["Metadata"]


def test_saved_objects_are_restored_with_type_and_metadata(s3: Any, tmp_path: Path) -> None:
    source = _bucket(s3)
    objects = {
        "uploads/t1/a/original": (b"%PDF-1.4 first", "application/pdf", {"filename": "a.pdf"}),
        "uploads/t1/b/original": ("# 標題\n".encode(), "text/markdown", {"filename": "b.md"}),
    }
    for key, (body, content_type, metadata) in objects.items():
        s3.put_object(
            Bucket=source, Key=key, Body=body, ContentType=content_type, Metadata=metadata
        )
    s3.put_object(Bucket=source, Key="uploads/t1/c/original", Body=b"deleted soon")
    s3.delete_object(Bucket=source, Key="uploads/t1/c/original")  # a delete marker now

    snapshot = S3Snapshot(bucket=source, root=tmp_path)
    assert snapshot.save() == 2
    assert snapshot.save() == 0  # nothing changed: nothing written

    target = _bucket(s3)
    assert len(S3Snapshot(bucket=target, root=tmp_path).restore()) == 2
    listed = s3.list_objects_v2(Bucket=target)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(objects)
    for key, expected in objects.items():
        assert _object(s3, target, key) == expected


def test_changed_and_deleted_keys_update_the_snapshot(s3: Any, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="k1", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"two")
    snapshot = S3Snapshot(bucket=bucket, root=tmp_path)
    assert snapshot.save() == 2
    s3.put_object(Bucket=bucket, Key="k1", Body=b"one, second version")
    s3.delete_object(Bucket=bucket, Key="k2")
    assert snapshot.save() == 2  # k1 rewritten, k2 dropped

    index = json.loads((tmp_path / "index.json").read_text())
    assert sorted(index) == ["k1"]
    assert (tmp_path / index["k1"]["file"]).read_bytes() == b"one, second version"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index.json", index["k1"]["file"]])
