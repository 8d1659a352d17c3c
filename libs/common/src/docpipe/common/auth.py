"""Who is calling: tenant, user and groups (docs/api.md).

Modes: ``none`` (the local stack only: every request is user ``local`` of tenant
``default``, who sees every document), ``jwt`` (the service verifies the bearer token
itself: HS256 secret or a JWKS URL) and ``apigateway`` (API Gateway's JWT authorizer
already verified it; the claims come from the Lambda event).

The same rules apply to the claims in both token modes: the tenant comes from
``TENANT_CLAIM`` (``sub`` only with ``TENANT_FROM_SUB=true``), ``exp`` is required and
not past, a token may not live longer than ``JWT_MAX_LIFETIME_SECONDS``, the issuer is
``JWT_ISSUER`` (always required in ``jwt`` mode; checked behind API Gateway when set), and
the groups come from ``GROUPS_CLAIM``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from docpipe.common.access import groups_from_claim
from docpipe.common.exceptions import AuthError
from docpipe.common.settings import CommonSettings

if TYPE_CHECKING:
    pass

__all__ = ["JwksKeys", "Principal", "authenticate", "principal_from_claims"]

DEFAULT_TENANT = "default"
DEFAULT_SUBJECT = "local"  # AUTH_MODE=none: every request is this user (docs/api.md)
_MAX_TENANT_LENGTH = 256
_LEEWAY_S = 30
#: An unknown ``kid`` makes the key set be read again, at most this often (a flood of
#: made-up key ids must not turn into a flood of requests to the identity provider).
_UNKNOWN_KID_REFRESH_S = 10.0
_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@dataclass(frozen=True)
class Principal:
    """The caller. ``admin``: in one of ``ADMIN_GROUPS``, so it sees every document of its
    tenant whatever the document's ``access``."""

    tenant_id: str
    subject: str | None
    groups: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False


def _tenant(claims: Mapping[str, Any], settings: CommonSettings) -> str:
    tenant = claims.get(settings.tenant_claim)
    if tenant is None and settings.tenant_from_sub:
        tenant = claims.get("sub")
    if (
        not isinstance(tenant, str)
        or not tenant.strip()
        or len(tenant) > _MAX_TENANT_LENGTH
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in tenant)
    ):
        source = f"'{settings.tenant_claim}'" + (" (or 'sub')" if settings.tenant_from_sub else "")
        raise AuthError(f"the token has no usable {source} claim naming the tenant")
    return tenant


def _instant(value: Any, name: str) -> float:
    """A NumericDate claim as seconds: a number, a number in a string (HTTP API
    authorizer), or the REST API Cognito authorizer's ``"Fri Jul 29 18:52:53 UTC 2016"``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
        try:
            parsed = datetime.strptime(value.replace("UTC", "+0000"), "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            pass
        else:
            return parsed.astimezone(UTC).timestamp()
    raise AuthError(f"the token's '{name}' claim is not a time")


def check_lifetime(claims: Mapping[str, Any], settings: CommonSettings) -> None:
    """``exp`` present and not past; a token living longer than the maximum is refused.

    The lifetime is ``exp - iat``; without ``iat`` what is left of it (``exp - now``)
    must be within the maximum.
    """
    if claims.get("exp") is None:
        raise AuthError("the token has no 'exp' claim")
    now = time.time()
    expires = _instant(claims["exp"], "exp")
    if expires < now - _LEEWAY_S:
        raise AuthError("the token has expired")
    issued = _instant(claims["iat"], "iat") if claims.get("iat") is not None else now
    if issued > now + _LEEWAY_S:
        raise AuthError("the token was issued in the future")
    if expires - issued > settings.jwt_max_lifetime_seconds + _LEEWAY_S:
        raise AuthError(
            f"the token lives longer than {settings.jwt_max_lifetime_seconds} s"
            " (JWT_MAX_LIFETIME_SECONDS); ask for a shorter-lived token"
        )


def principal_from_claims(claims: Mapping[str, Any], settings: CommonSettings) -> Principal:
    """The caller named by verified claims, or :class:`AuthError`."""
    check_lifetime(claims, settings)
    if settings.jwt_issuer and claims.get("iss") != settings.jwt_issuer:
        raise AuthError("the token was issued by another issuer")
    tenant = _tenant(claims, settings)
    subject = claims.get("sub")
    groups = groups_from_claim(claims.get(settings.groups_claim))
    return Principal(
        tenant_id=tenant,
        subject=subject if isinstance(subject, str) else None,
        groups=groups,
        admin=not groups.isdisjoint(settings.admin_groups),
    )


class JwksKeys:
    """The signing keys of a JWKS URL, read again at least every ``max_age`` seconds.

    PyJWT's client caches each key by ``kid`` for the life of the process, so a key the
    identity provider removed (rotated out, or revoked after a leak) would be accepted
    forever. Here the whole set is replaced on every read: a removed key stops being
    accepted within ``max_age``. If the URL cannot be read, keys are used until they
    are ``max_age`` old, then every token is refused until it can be read again.
    """

    def __init__(self, url: str, *, max_age: float) -> None:
        import jwt

        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=5)
        self._max_age = max_age
        self._keys: dict[str, Any] = {}
        self._read_at = -math.inf
        self._tried_at = -math.inf
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> Any:
        if not kid:
            raise AuthError("the token names no signing key ('kid')")
        with self._lock:
            now = time.monotonic()
            stale = now - self._read_at >= self._max_age
            unknown = kid not in self._keys and now - self._tried_at >= _UNKNOWN_KID_REFRESH_S
            if stale or unknown:
                self._read(now)
            if time.monotonic() - self._read_at >= self._max_age:
                raise AuthError("the identity provider's signing keys could not be read")
            key = self._keys.get(kid)
        if key is None:
            raise AuthError("the token is not valid")
        return key

    def _read(self, now: float) -> None:
        import jwt

        self._tried_at = now
        try:
            keys = self._client.get_signing_keys(refresh=True)
        except jwt.PyJWTError:  # unreachable, not JSON, no signing keys
            return  # keep the current keys until they are too old (checked by the caller)
        self._keys = {k.key_id: k.key for k in keys if k.key_id}
        self._read_at = now


@lru_cache(maxsize=4)
def _jwks(url: str, max_age: float) -> JwksKeys:
    return JwksKeys(url, max_age=max_age)


def _verify_jwt(token: str, settings: CommonSettings) -> Mapping[str, Any]:
    # Imported here: behind API Gateway (AUTH_MODE=apigateway) PyJWT and `cryptography`
    # are never needed, and importing them costs every cold start ~0.1-0.3 s.
    import jwt

    try:
        if settings.jwt_jwks_url:
            kid = jwt.get_unverified_header(token).get("kid")
            jwks = _jwks(settings.jwt_jwks_url, float(settings.jwt_jwks_refresh_seconds))
            key: Any = jwks.key_for(kid if isinstance(kid, str) else None)
            algorithms = _ASYMMETRIC
        else:
            key, algorithms = settings.jwt_secret, ["HS256"]
        claims: Mapping[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iss"]},
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("the token has expired") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"the token has no '{exc.claim}' claim") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError("the token was issued by another issuer") from exc
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
    """Resolve the caller, or raise :class:`AuthError`."""
    if settings.auth_mode == "none":
        return Principal(tenant_id=DEFAULT_TENANT, subject=DEFAULT_SUBJECT, admin=True)
    if settings.auth_mode == "apigateway":
        claims = _apigateway_claims(lambda_event)
    else:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("send 'Authorization: Bearer <token>'")
        claims = _verify_jwt(token.strip(), settings)
    return principal_from_claims(claims, settings)
