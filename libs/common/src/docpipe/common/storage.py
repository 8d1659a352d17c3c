"""Document objects in S3 (moto locally) through aioboto3.

A read that S3 refuses ends as one of two typed errors, never a bare ``ClientError``:
:class:`ObjectMissing` (404: the object or version is gone: the document's problem) or
:class:`ObjectAccessDenied` (403: this service's role may not read it: a deployment
problem). S3 answers 403, not 404, for a missing key when the caller lacks
``s3:ListBucket`` on the bucket (GetObject and HeadObject "Permissions",
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), so every role that
reads objects is also granted list on the prefix it reads (``docpipe.infra.policies``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from docpipe.common.aws import client
from docpipe.common.exceptions import ObjectAccessDenied, ObjectMissing, ObjectTooLarge
from docpipe.common.settings import CommonSettings

__all__ = [
    "ObjectInfo",
    "PresignedGet",
    "PresignedPost",
    "delete_object_version",
    "delete_object_versions",
    "get_object",
    "head_object",
    "presigned_get",
    "presigned_post",
    "put_object",
]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version_id: str | None
    etag: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class PresignedGet:
    url: str
    expires_at: datetime


#: Error codes of a read whose object or version does not exist. HeadObject responses have
#: no body, so botocore reports the bare HTTP status as the code ("404", "403").
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
_DENIED_CODES = frozenset({"403", "AccessDenied"})


def _read_error(exc: Exception, key: str) -> Exception | None:
    """The typed error for a refused read of ``key``, or None when it is another failure."""
    error = getattr(exc, "response", {}).get("Error", {})
    code = str(error.get("Code", ""))
    if code in _MISSING_CODES:
        return ObjectMissing(key)
    if code in _DENIED_CODES:
        return ObjectAccessDenied(key, code=code, aws_message=str(error.get("Message", "")))
    return None


async def put_object(
    *, settings: CommonSettings, key: str, data: bytes, content_type: str, metadata: dict[str, str]
) -> ObjectInfo:
    s3 = await client("s3", settings)
    response = await s3.put_object(
        Bucket=settings.documents_bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        Metadata=metadata,
    )
    return ObjectInfo(
        key=key,
        size=len(data),
        version_id=response.get("VersionId"),
        etag=response["ETag"].strip('"'),
        metadata=metadata,
    )


async def head_object(
    *, settings: CommonSettings, key: str, version_id: str | None = None
) -> ObjectInfo:
    s3 = await client("s3", settings)
    extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    try:
        response = await s3.head_object(Bucket=settings.documents_bucket, Key=key, **extra)
    except Exception as exc:
        if (refused := _read_error(exc, key)) is not None:
            raise refused from exc
        raise
    return ObjectInfo(
        key=key,
        size=int(response["ContentLength"]),
        version_id=response.get("VersionId"),
        etag=response["ETag"].strip('"'),
        metadata=dict(response.get("Metadata", {})),
    )


async def get_object(
    *, settings: CommonSettings, key: str, max_bytes: int, version_id: str | None = None
) -> tuple[ObjectInfo, bytes]:
    """Download an object, refusing (before reading the body) anything over ``max_bytes``."""
    s3 = await client("s3", settings)
    extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    try:
        response = await s3.get_object(Bucket=settings.documents_bucket, Key=key, **extra)
    except Exception as exc:
        if (refused := _read_error(exc, key)) is not None:
            raise refused from exc
        raise
    size = int(response["ContentLength"])
    info = ObjectInfo(
        key=key,
        size=size,
        version_id=response.get("VersionId"),
        etag=response["ETag"].strip('"'),
        metadata=dict(response.get("Metadata", {})),
    )
    async with response["Body"] as body:
        if size > max_bytes:
            raise ObjectTooLarge(f"{size} bytes exceeds the {max_bytes}-byte limit")
        data: bytes = await body.read()
    return info, data


async def delete_object_versions(*, settings: CommonSettings, key: str) -> int:
    """Delete every version and delete marker of ``key`` (the bucket is versioned)."""
    s3 = await client("s3", settings)
    paginator = s3.get_paginator("list_object_versions")
    targets: list[dict[str, str]] = []
    async for page in paginator.paginate(Bucket=settings.documents_bucket, Prefix=key):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if entry["Key"] == key:
                targets.append({"Key": key, "VersionId": entry["VersionId"]})
    for start in range(0, len(targets), 1000):
        await s3.delete_objects(
            Bucket=settings.documents_bucket,
            Delete={"Objects": targets[start : start + 1000], "Quiet": True},
        )
    return len(targets)


async def delete_object_version(*, settings: CommonSettings, key: str, version_id: str) -> None:
    """Delete one version of ``key`` (the previous one, if any, becomes current again)."""
    s3 = await client("s3", settings)
    await s3.delete_object(Bucket=settings.documents_bucket, Key=key, VersionId=version_id)


async def presigned_post(
    *,
    settings: CommonSettings,
    key: str,
    max_bytes: int,
    metadata: dict[str, str],
    expires_in: int = 900,
) -> PresignedPost:
    """A browser upload form for exactly ``key``, at most ``max_bytes``, with fixed metadata."""
    s3 = await client("s3", settings)
    fields = {f"x-amz-meta-{name}": value for name, value in metadata.items()}
    conditions: list[Any] = [
        {"bucket": settings.documents_bucket},
        {"key": key},
        ["content-length-range", 1, max_bytes],
        *({name: value} for name, value in fields.items()),
    ]
    response = await s3.generate_presigned_post(
        Bucket=settings.documents_bucket,
        Key=key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=expires_in,
    )
    return PresignedPost(
        url=response["url"],
        fields=response["fields"],
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        max_bytes=max_bytes,
    )


def content_disposition(filename: str, *, inline: bool = True) -> str:
    """``inline`` (browsers show PDFs, so ``#page=N`` works) with the user's filename:
    an ASCII fallback and the exact name in RFC 6266/5987 ``filename*``."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def presigned_get(
    *,
    settings: CommonSettings,
    key: str,
    filename: str,
    content_type: str,
    expires_in: int = 300,
) -> PresignedGet:
    """A GET URL for exactly ``key`` that S3 answers with the given name and type.

    Signing is local (no request to S3); the URL works until ``expires_in`` seconds
    from now, and no longer than the signing credentials (a Lambda role's session).
    """
    s3 = await client("s3", settings)
    url = await s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": settings.documents_bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename),
            "ResponseContentType": content_type,
        },
        ExpiresIn=expires_in,
    )
    return PresignedGet(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=expires_in))
