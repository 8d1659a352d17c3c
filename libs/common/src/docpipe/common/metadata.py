"""Document metadata: what a valid ``metadata`` object is (docs/api.md).

At most 32 keys matching ``[A-Za-z_][A-Za-z0-9_.-]{0,63}``; values are strings (at most 256
characters), numbers, booleans or lists of strings; at most 8 KB in all (compact JSON,
UTF-8). The upload service validates with it; the query service's filters use the same
key rule, so a filter can name every key a document can have and nothing else.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, StrictBool, StrictFloat, StrictInt, StrictStr

from docpipe.common.exceptions import InvalidMetadata

__all__ = [
    "KEY_PATTERN",
    "MAX_BYTES",
    "MAX_KEYS",
    "MAX_STRING_CHARS",
    "Metadata",
    "MetadataValue",
    "check_metadata",
    "parse_metadata_json",
]

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_KEYS = 32
MAX_STRING_CHARS = 256
MAX_BYTES = 8 * 1024

MetadataValue = StrictStr | StrictBool | StrictInt | StrictFloat | list[StrictStr]


def _check_value(key: str, value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise InvalidMetadata(f"metadata.{key}: at most {MAX_STRING_CHARS} characters")
        return
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidMetadata(f"metadata.{key}: numbers must be finite")
        return
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise InvalidMetadata(f"metadata.{key}: a list may hold strings only")
            _check_value(key, item)
        return
    raise InvalidMetadata(
        f"metadata.{key}: values are strings, numbers, booleans or lists of strings"
    )


def check_metadata(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as a plain dict if it is valid metadata, else :class:`InvalidMetadata`."""
    if len(value) > MAX_KEYS:
        raise InvalidMetadata(f"metadata: at most {MAX_KEYS} keys (got {len(value)})")
    for key, item in value.items():
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise InvalidMetadata(f"metadata: key {key!r} must match {KEY_PATTERN.pattern}")
        _check_value(key, item)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_BYTES:
        raise InvalidMetadata(f"metadata: at most {MAX_BYTES} bytes of JSON (got {size})")
    return dict(value)


def _validated(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_metadata(value)
    except InvalidMetadata as exc:
        raise ValueError(str(exc)) from exc


#: A request body field holding metadata (pydantic turns a failure into a 422).
Metadata = Annotated[dict[str, MetadataValue], AfterValidator(_validated)]


def parse_metadata_json(text: str) -> dict[str, Any]:
    """Metadata sent as a JSON text (a multipart form field)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InvalidMetadata(f"metadata: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidMetadata("metadata: must be a JSON object")
    return check_metadata(value)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
