"""Evaluate an S3 presigned POST form the way S3 does (moto accepts any form unchecked).

moto 5.x stores whatever a browser POSTs, without checking the signed policy, so the
rules S3 applies are checked here from its documentation: the SigV4 signature over the
base64 policy, its expiration, every condition (exact match, ``eq``, ``starts-with``,
``content-length-range``) and that every submitted field is covered by a condition.
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["policy_violation"]

_UNCHECKED_FIELDS = {"policy", "x-amz-signature", "file"}


def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _condition_violation(condition: Any, form: Mapping[str, str], size: int) -> str | None:
    if isinstance(condition, dict):
        ((name, expected),) = condition.items()
        actual = form.get(name.lower())
        return None if actual == expected else f"{name}: {actual!r} != {expected!r}"
    operator = condition[0].lower()
    if operator == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        return None if low <= size <= high else f"EntityTooLarge/Small: {size} not in {low}-{high}"
    name = condition[1].lstrip("$").lower()
    actual = form.get(name, "")
    if operator == "eq":
        return None if actual == condition[2] else f"{name}: {actual!r} != {condition[2]!r}"
    if operator == "starts-with":
        return None if actual.startswith(condition[2]) else f"{name} does not start with prefix"
    return f"unknown condition {operator}"


def _covered(condition: Any) -> str | None:
    if isinstance(condition, dict):
        return str(next(iter(condition))).lower()
    if condition[0].lower() in ("eq", "starts-with"):
        return str(condition[1]).lstrip("$").lower()
    return None


def policy_violation(
    fields: Mapping[str, str],
    *,
    bucket: str,
    file_size: int,
    secret_key: str,
    now: datetime | None = None,
) -> str | None:
    """Why S3 would refuse this POST (a reason), or None if it would accept it."""
    form = {name.lower(): value for name, value in fields.items()} | {"bucket": bucket}
    _, date, region, _, _ = form["x-amz-credential"].split("/")
    expected = hmac.new(
        _signing_key(secret_key, date, region), form["policy"].encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, form["x-amz-signature"]):
        return "SignatureDoesNotMatch"
    policy = json.loads(base64.b64decode(form["policy"]))
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if (now or datetime.now(UTC)) >= expiration:
        return "Invalid according to Policy: Policy expired"
    for condition in policy["conditions"]:
        violation = _condition_violation(condition, form, file_size)
        if violation:
            return f"Invalid according to Policy: {violation}"
    covered = {_covered(c) for c in policy["conditions"]} | {"bucket"}
    extra = sorted(
        n
        for n in form
        if n not in covered and n not in _UNCHECKED_FIELDS and not n.startswith("x-ignore-")
    )
    return f"Invalid according to Policy: Extra input fields: {extra}" if extra else None
