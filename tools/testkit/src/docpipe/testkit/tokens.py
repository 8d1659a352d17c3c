"""The test suite's token issuer: every JWT a test signs names it, as a real one would.

``JWT_ISSUER`` is set to :data:`ISSUER` for the whole suite (tests/conftest.py): a service
in ``jwt`` mode refuses to start without an issuer, and refuses tokens of any other one.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

__all__ = ["ISSUER", "claims", "http_api_claims", "rest_api_claims", "sign"]

ISSUER = "https://id.docpipe.test/"


def claims(tenant: str | None, *, lifetime: int = 600, **extra: Any) -> dict[str, Any]:
    """Valid claims of ``tenant``: issuer, issued now, expiring in ``lifetime`` seconds.
    An ``extra`` value of None removes that claim."""
    now = int(time.time())
    values: dict[str, Any] = {"tenant_id": tenant, "iss": ISSUER, "iat": now, "exp": now + lifetime}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def sign(secret: str, tenant: str | None, **extra: Any) -> str:
    """An HS256 token of ``tenant`` (see :func:`claims`)."""
    return jwt.encode(claims(tenant, **extra), secret, algorithm="HS256")


def http_api_claims(tenant: str | None, **extra: Any) -> dict[str, str]:
    """The claims as API Gateway's HTTP API JWT authorizer hands them to Lambda
    (``requestContext.authorizer.jwt.claims``): every value a string, a list as
    ``"[a b]"`` (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html)."""
    return {
        name: "[" + " ".join(value) + "]" if isinstance(value, list) else str(value)
        for name, value in claims(tenant, **({"sub": "user-1"} | extra)).items()
    }


def rest_api_claims(tenant: str | None, **extra: Any) -> dict[str, str]:
    """The claims as a REST API Cognito user pool authorizer hands them to Lambda
    (``requestContext.authorizer.claims``): times as ``"Fri Jul 29 18:52:53 UTC 2016"``,
    a list as ``"a,b"``."""
    out: dict[str, str] = {}
    for name, value in claims(tenant, **({"sub": "user-1"} | extra)).items():
        if name in ("exp", "iat"):
            out[name] = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        elif isinstance(value, list):
            out[name] = ",".join(value)
        else:
            out[name] = str(value)
    return out
