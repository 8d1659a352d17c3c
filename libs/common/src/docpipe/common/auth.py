"""Who is calling, and for which tenant (ARCHITECTURE §6).

Modes: ``none`` (local development: every request is tenant ``default``), ``jwt`` (the
service verifies the bearer token itself: HS256 secret or a JWKS URL) and ``apigateway``
(API Gateway's JWT authorizer already verified it; the claims come from the Lambda event).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from docpipe.common.settings import CommonSettings

if TYPE_CHECKING:
    import jwt

__all__ = ["AuthError", "Principal", "authenticate", "tenant_from_claims"]

DEFAULT_TENANT = "default"
DEFAULT_SUBJECT = "local"  # AUTH_MODE=none: every request is this user (ARCHITECTURE §6)
_MAX_TENANT_LENGTH = 256


class AuthError(Exception):
    """The request carries no acceptable credentials (HTTP 401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    subject: str | None


def tenant_from_claims(claims: Mapping[str, Any], *, tenant_claim: str) -> Principal:
    tenant = claims.get(tenant_claim)
    if tenant is None:
        tenant = claims.get("sub")
    if (
        not isinstance(tenant, str)
        or not tenant.strip()
        or len(tenant) > _MAX_TENANT_LENGTH
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in tenant)
    ):
        raise AuthError(f"the token has no usable '{tenant_claim}' (or 'sub') claim")
    subject = claims.get("sub")
    return Principal(tenant_id=tenant, subject=subject if isinstance(subject, str) else None)


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _verify_jwt(token: str, settings: CommonSettings) -> Mapping[str, Any]:
    # Imported here: behind API Gateway (AUTH_MODE=apigateway) PyJWT and `cryptography`
    # are never needed, and importing them costs every cold start ~0.1-0.3 s.
    import jwt

    options = {"require": ["exp"] + (["iss"] if settings.jwt_issuer else [])}
    try:
        if settings.jwt_jwks_url:
            key: Any = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
            algorithms = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
        else:
            key, algorithms = settings.jwt_secret, ["HS256"]
        claims: Mapping[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options=options,  # type: ignore[arg-type]
            leeway=30,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("the token has expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise AuthError("the token is not valid") from exc
    return claims


def _apigateway_claims(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    authorizer = ((event or {}).get("requestContext") or {}).get("authorizer") or {}
    # HTTP API JWT authorizer: authorizer.jwt.claims; REST API Cognito user pool
    # authorizer (the streaming route): authorizer.claims.
    claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims")
    if not isinstance(claims, Mapping) or not claims:
        raise AuthError("the request did not pass API Gateway's JWT authorizer")
    return claims


def authenticate(
    *,
    settings: CommonSettings,
    authorization: str | None,
    lambda_event: Mapping[str, Any] | None = None,
) -> Principal:
    """Resolve the caller's tenant, or raise :class:`AuthError`."""
    if settings.auth_mode == "none":
        return Principal(tenant_id=DEFAULT_TENANT, subject=DEFAULT_SUBJECT)
    if settings.auth_mode == "apigateway":
        claims = _apigateway_claims(lambda_event)
    else:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("send 'Authorization: Bearer <token>'")
        claims = _verify_jwt(token.strip(), settings)
    return tenant_from_claims(claims, tenant_claim=settings.tenant_claim)
