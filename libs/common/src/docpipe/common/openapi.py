"""OpenAPI declarations for problem+json errors, so a service's document matches its wire.

FastAPI declares extra responses as ``application/json`` and adds its own 422 schema;
docpipe answers every error as ``application/problem+json`` (see :mod:`docpipe.common.web`).
:func:`problem_responses` declares the error statuses of a route and
:func:`use_problem_json` rewrites the generated document accordingly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from docpipe.common.web import PROBLEM_JSON

__all__ = ["Problem", "ProblemIssue", "problem_responses", "use_problem_json"]

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    404: "No such resource for this tenant",
    409: "Conflicts with the resource's current state",
    413: "Request or file too large",
    415: "Unsupported media type",
    422: "Request failed validation",
    429: "Over a tenant quota: `quota` names it, `limit` is its value; wait `Retry-After` seconds",
    503: "A backing service is unavailable; retry later",
}


class ProblemIssue(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemIssue] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status documented as a :class:`Problem`."""
    return {
        status: {"model": Problem, "description": _DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


def _declare_unparseable_body(operation: dict[str, Any]) -> None:
    """FastAPI answers 400 when a body cannot be parsed at all (e.g. JSON that is not UTF-8),
    before any route runs; without this, that answer is missing from the document."""
    operation.setdefault("responses", {}).setdefault(
        "400",
        {
            "description": _DESCRIPTIONS[400],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    )


def use_problem_json(app: FastAPI) -> None:
    """Serve error responses in the OpenAPI document as ``application/problem+json``."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; the rewrite below is idempotent
        has_problem = "Problem" in schema.get("components", {}).get("schemas", {})
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if has_problem and "requestBody" in operation:
                    _declare_unparseable_body(operation)
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[:1] in "45" and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
