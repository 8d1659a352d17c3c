"""Typed stack settings, parsed from the ``docpipe:*`` sections of a stack's config.

Parsing is a pure function over plain mappings so tests can feed Pulumi.dev.yaml
directly; ``__main__`` feeds it from ``pulumi.Config``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from docpipe.common.embeddings.bedrock_models import resolve_model
from docpipe.common.exceptions import EmbeddingConfigError
from docpipe.infra.exceptions import UnreachableModel
from docpipe.infra.model_catalog import ModelRoute, Purpose, resolve

__all__ = [
    "SECTIONS",
    "SERVICE_NAMES",
    "AlertSettings",
    "ApiSettings",
    "AuthSettings",
    "ConsoleSettings",
    "DatabaseSettings",
    "DocumentSettings",
    "ModelSettings",
    "NetworkSettings",
    "QueueSettings",
    "QuotaSettings",
    "RolloutSettings",
    "ServiceSettings",
    "StackSettings",
    "load_settings",
]

SERVICE_NAMES: tuple[str, ...] = ("upload", "processor", "query")
SECTIONS: tuple[str, ...] = (
    "network",
    "documents",
    "queue",
    "database",
    "models",
    "api",
    "auth",
    "console",
    "quotas",
    "rollout",
    "alerts",
    "services",
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENGINE_VERSION = re.compile(r"^(\d+)\.(\d+)$")

#: Oldest Aurora PostgreSQL minor of each major whose Serverless v2 capacity may be 0 ACUs
#: (automatic pause); every later major supports it. Source:
#: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.how-it-works.html#aurora-serverless-v2.how-it-works.capacity
AUTO_PAUSE_MINIMUM: Mapping[int, tuple[int, int]] = {
    13: (13, 15),
    14: (14, 12),
    15: (15, 7),
    16: (16, 3),
}


@dataclass(frozen=True)
class NetworkSettings:
    cidr: str
    availability_zones: tuple[str, str]


@dataclass(frozen=True)
class DocumentSettings:
    uploads_prefix: str
    noncurrent_version_days: int
    abort_multipart_days: int
    cors_origins: tuple[str, ...]
    max_upload_bytes: int


@dataclass(frozen=True)
class QueueSettings:
    max_receive_count: int
    retention_seconds: int
    dlq_retention_seconds: int
    oldest_message_alarm_seconds: int


@dataclass(frozen=True)
class DatabaseSettings:
    engine_version: str
    database_name: str
    min_capacity: float
    max_capacity: float
    seconds_until_auto_pause: int
    backup_retention_days: int
    deletion_protection: bool
    instance_count: int
    #: bump to generate new passwords for the services' database roles
    role_password_version: int


@dataclass(frozen=True)
class ModelSettings:
    """The two Bedrock models, as configured and as reached from the stack's region."""

    embedding_model_id: str
    embedding_dimensions: int
    answer_model_id: str
    embedding: ModelRoute
    answer: ModelRoute


@dataclass(frozen=True)
class ApiSettings:
    """HTTP API. ``jwt_issuer`` is ``None`` when the Cognito component provides it."""

    jwt_issuer: str | None
    jwt_audiences: tuple[str, ...]
    tenant_claim: str
    groups_claim: str
    cors_origins: tuple[str, ...]
    throttling_burst_limit: int
    throttling_rate_limit: float
    access_log_retention_days: int


@dataclass(frozen=True)
class AuthSettings:
    """The optional Cognito user pool (``docpipe:auth``); see docs/operations.md."""

    cognito: bool
    tenant_attribute: str
    admin_group: str
    groups: tuple[str, ...]
    callback_urls: tuple[str, ...]
    logout_urls: tuple[str, ...]
    #: hosted UI domain prefix; ``None``: derived from stack and account; ``""``: no domain
    domain_prefix: str | None
    mfa: str
    password_min_length: int
    id_token_minutes: int
    access_token_minutes: int
    refresh_token_days: int
    deletion_protection: bool

    @property
    def tenant_claim(self) -> str:
        """Cognito puts custom attributes in the ID token as ``custom:<name>``."""
        return f"custom:{self.tenant_attribute}"


@dataclass(frozen=True)
class ConsoleSettings:
    """The web console (``docpipe:console``): static files behind CloudFront.

    Without ``domainName`` the console is served on CloudFront's own ``*.cloudfront.net``
    name and certificate; with it, on that name with ``certificateArn`` (ACM, us-east-1)
    and TLS 1.2 at least.
    """

    enabled: bool
    domain_name: str | None
    certificate_arn: str | None
    price_class: str
    noncurrent_version_days: int


@dataclass(frozen=True)
class RolloutSettings:
    """The canary, and what the new version may do during it before CodeDeploy rolls back.

    Each threshold is a percentage per minute of the new version's own traffic: HTTP
    answers that are 5xx (upload, query); documents that ended ``failed`` and messages
    handed back to SQS (processor). A user's broken PDF is a normal failed document, so
    the processor's thresholds are higher than the HTTP one.
    """

    canary_percentage: int
    canary_interval_minutes: int
    http_error_percent: float = 5.0
    failed_document_percent: float = 50.0
    returned_message_percent: float = 50.0


@dataclass(frozen=True)
class QuotaSettings:
    """The upload service's per-tenant quota defaults (``docpipe:quotas``, optional).

    ``None``: the service's own default (docs/configuration.md); ``0``: no limit. An
    operator overrides them for one tenant in the database (docs/operations.md).
    """

    max_documents: int | None = None
    max_stored_bytes: int | None = None
    uploads_per_minute: int | None = None
    reprocess_per_document_per_hour: int | None = None

    def environment(self) -> dict[str, str]:
        """``QUOTA_*`` variables of the upload function, for the quotas configured."""
        return {
            f"QUOTA_{name.upper()}": str(value)
            for name, value in vars(self).items()
            if value is not None
        }


#: config key → QuotaSettings field
_QUOTA_KEYS = {
    "maxDocuments": "max_documents",
    "maxStoredBytes": "max_stored_bytes",
    "uploadsPerMinute": "uploads_per_minute",
    "reprocessPerDocumentPerHour": "reprocess_per_document_per_hour",
}


def _quotas(s: _Section) -> QuotaSettings:
    unknown = s.keys() - _QUOTA_KEYS.keys()
    if unknown:
        raise ValueError(f"config docpipe:quotas has unknown keys {sorted(unknown)}")
    values: dict[str, int] = {}
    for key, field_name in _QUOTA_KEYS.items():
        if key not in s.keys():
            continue
        value = s.get(key)
        number = int(value) if isinstance(value, int | str) and str(value).isdigit() else -1
        if isinstance(value, bool) or number < 0:
            raise ValueError(f"config docpipe:quotas.{key} must be a whole number >= 0")
        values[field_name] = number
    return QuotaSettings(**values)


@dataclass(frozen=True)
class AlertSettings:
    emails: tuple[str, ...]
    log_retention_days: int


@dataclass(frozen=True)
class ServiceSettings:
    """One service's deployable unit; an empty ``image_digest`` means "repository only"."""

    name: str
    image_digest: str
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int | None
    log_level: str
    batch_size: int
    max_concurrency: int
    error_alarm_threshold: int
    duration_alarm_ms: int

    @property
    def deployed(self) -> bool:
        return bool(self.image_digest)


@dataclass(frozen=True)
class StackSettings:
    stack: str
    region: str
    network: NetworkSettings
    documents: DocumentSettings
    queue: QueueSettings
    database: DatabaseSettings
    models: ModelSettings
    api: ApiSettings
    auth: AuthSettings
    console: ConsoleSettings
    rollout: RolloutSettings
    alerts: AlertSettings
    services: Mapping[str, ServiceSettings]
    quotas: QuotaSettings = QuotaSettings()


class _Section:
    """Reads one config object, failing fast with the offending key's full name."""

    def __init__(self, name: str, raw: Mapping[str, Any]) -> None:
        self._name = name
        self._raw = raw

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._raw and self._raw[key] is not None:
            return self._raw[key]
        if default is None:
            raise ValueError(f"config docpipe:{self._name}.{key} is required")
        return default

    def keys(self) -> set[str]:
        return {k for k, v in self._raw.items() if v is not None}

    def strs(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.get(key, default)
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"config docpipe:{self._name}.{key} must be a list of strings")
        return tuple(value)


def _bool(value: Any) -> bool:
    """Config set with `pulumi config set --path` arrives as a string."""
    if isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value.lower() == "true"
    return bool(value)


def _service(name: str, raw: Mapping[str, Any]) -> ServiceSettings:
    s = _Section(f"services.{name}", raw)
    digest = str(raw.get("imageDigest") or "")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"config docpipe:services.{name}.imageDigest must be sha256:<64 hex>")
    reserved = raw.get("reservedConcurrency")
    settings = ServiceSettings(
        name=name,
        image_digest=digest,
        memory_mb=int(s.get("memoryMb")),
        timeout_seconds=int(s.get("timeoutSeconds")),
        reserved_concurrency=None if reserved is None else int(reserved),
        log_level=str(s.get("logLevel", "INFO")),
        batch_size=int(s.get("batchSize", 1)),
        max_concurrency=int(s.get("maxConcurrency", 2)),
        error_alarm_threshold=int(s.get("errorAlarmThreshold", 1)),
        duration_alarm_ms=int(s.get("durationAlarmMs", int(s.get("timeoutSeconds")) * 800)),
    )
    if settings.max_concurrency < 2:
        raise ValueError(f"docpipe:services.{name}.maxConcurrency must be at least 2 (SQS minimum)")
    if settings.reserved_concurrency is not None and (
        settings.max_concurrency > settings.reserved_concurrency
    ):
        raise ValueError(f"docpipe:services.{name}.maxConcurrency exceeds reservedConcurrency")
    return settings


def _network(s: _Section) -> NetworkSettings:
    azs = s.strs("availabilityZones")
    if len(azs) != 2:
        raise ValueError("config docpipe:network.availabilityZones must name exactly two AZs")
    return NetworkSettings(cidr=str(s.get("cidr")), availability_zones=(azs[0], azs[1]))


def _documents(s: _Section) -> DocumentSettings:
    return DocumentSettings(
        uploads_prefix=str(s.get("uploadsPrefix", "uploads/")),
        noncurrent_version_days=int(s.get("noncurrentVersionDays", 30)),
        abort_multipart_days=int(s.get("abortMultipartDays", 7)),
        cors_origins=s.strs("corsOrigins"),
        max_upload_bytes=int(s.get("maxUploadBytes", 100 * 1024 * 1024)),
    )


def _queue(s: _Section) -> QueueSettings:
    settings = QueueSettings(
        max_receive_count=int(s.get("maxReceiveCount", 5)),
        retention_seconds=int(s.get("retentionSeconds", 4 * 86400)),
        dlq_retention_seconds=int(s.get("dlqRetentionSeconds", 14 * 86400)),
        oldest_message_alarm_seconds=int(s.get("oldestMessageAlarmSeconds", 900)),
    )
    if settings.max_receive_count < 5:
        raise ValueError("config docpipe:queue.maxReceiveCount must be at least 5")
    return settings


def _engine_version(value: str, *, min_capacity: float) -> str:
    """A pinned ``MAJOR.MINOR`` Aurora PostgreSQL version that supports the capacity asked for."""
    match = _ENGINE_VERSION.match(value)
    if not match:
        raise ValueError(
            f"config docpipe:database.engineVersion must be MAJOR.MINOR (e.g. 16.6), got {value!r}"
        )
    version = (int(match[1]), int(match[2]))
    oldest = AUTO_PAUSE_MINIMUM.get(version[0], (version[0], 0) if version[0] > 16 else None)
    if min_capacity == 0 and (oldest is None or version < oldest):
        need = "a later major" if oldest is None else f"{oldest[0]}.{oldest[1]} or later"
        raise ValueError(
            f"config docpipe:database.minCapacity 0 (automatic pause) needs Aurora PostgreSQL "
            f"{need}; engineVersion is {value}"
        )
    return value


def _database(s: _Section) -> DatabaseSettings:
    settings = DatabaseSettings(
        engine_version=str(s.get("engineVersion")),
        database_name=str(s.get("databaseName", "docpipe")),
        min_capacity=float(s.get("minCapacity")),
        max_capacity=float(s.get("maxCapacity")),
        seconds_until_auto_pause=int(s.get("secondsUntilAutoPause", 3600)),
        backup_retention_days=int(s.get("backupRetentionDays", 7)),
        deletion_protection=_bool(s.get("deletionProtection", True)),
        instance_count=int(s.get("instanceCount", 1)),
        role_password_version=int(s.get("rolePasswordVersion", 1)),
    )
    _engine_version(settings.engine_version, min_capacity=settings.min_capacity)
    if not 0 <= settings.min_capacity <= settings.max_capacity or any(
        (2 * c) % 1 for c in (settings.min_capacity, settings.max_capacity)
    ):
        raise ValueError(
            "config docpipe:database.minCapacity/maxCapacity must be half-ACU steps, "
            "0 <= minCapacity <= maxCapacity"
        )
    if not 300 <= settings.seconds_until_auto_pause <= 86_400:
        raise ValueError("config docpipe:database.secondsUntilAutoPause must be 300..86400")
    return settings


def _route(s: _Section, key: str, region: str, purpose: Purpose) -> ModelRoute:
    try:
        return resolve(str(s.get(key)), region=region, purpose=purpose)
    except UnreachableModel as exc:
        raise ValueError(f"config docpipe:models.{key}: {exc}") from exc


def _models(s: _Section, region: str) -> ModelSettings:
    if "inferenceRegions" in s.keys():
        raise ValueError(
            "config docpipe:models.inferenceRegions is no longer used: the roles may call a "
            "model in any region only through its inference profile (bedrock:InferenceProfileArn)"
            "; remove the key (pulumi config rm --path docpipe:models.inferenceRegions)"
        )
    embedding = _route(s, "embeddingModelId", region, "embedding")
    dimensions = int(s.get("embeddingDimensions", 1024))
    try:
        resolve_model(embedding.model_id, dimensions)
    except EmbeddingConfigError as exc:
        raise ValueError(f"config docpipe:models.embeddingDimensions: {exc}") from exc
    return ModelSettings(
        embedding_model_id=embedding.model_id,
        embedding_dimensions=dimensions,
        answer_model_id=str(s.get("answerModelId")),
        embedding=embedding,
        answer=_route(s, "answerModelId", region, "answer"),
    )


_PLACEHOLDER = re.compile(r"example", re.IGNORECASE)
#: Cognito puts the user's groups in both tokens under this claim.
COGNITO_GROUPS_CLAIM = "cognito:groups"


def _external_issuer(s: _Section) -> tuple[str, tuple[str, ...]]:
    """Without the Cognito component the stack must name a real identity provider."""
    issuer = str(s.get("jwtIssuer", ""))
    audiences = s.strs("jwtAudiences", ())
    if not issuer.startswith("https://") or _PLACEHOLDER.search(issuer):
        raise ValueError(
            f"config docpipe:api.jwtIssuer {issuer!r} is unset or a placeholder: every route "
            "would answer 401. Set docpipe:auth.cognito: true (the stack creates a user pool) "
            "or name your identity provider's issuer URL (https://...)"
        )
    if not audiences or any(not a.strip() or _PLACEHOLDER.search(a) for a in audiences):
        raise ValueError(
            "config docpipe:api.jwtAudiences is unset or a placeholder: name the client ids "
            "your identity provider puts in 'aud' (or set docpipe:auth.cognito: true)"
        )
    return issuer, audiences


def _api(s: _Section, auth: AuthSettings) -> ApiSettings:
    if auth.cognito:
        given = [k for k in ("jwtIssuer", "jwtAudiences") if k in s.keys()]
        if given:
            raise ValueError(
                f"config docpipe:api.{given[0]} must not be set with docpipe:auth.cognito: "
                "true (the user pool's issuer and app client are used); remove it"
            )
        issuer: str | None = None
        audiences: tuple[str, ...] = ()
        expected = {"tenantClaim": auth.tenant_claim, "groupsClaim": COGNITO_GROUPS_CLAIM}
        for key, claim in expected.items():
            if s.get(key, claim) != claim:
                raise ValueError(
                    f"config docpipe:api.{key} must be {claim!r} with the Cognito component "
                    "(Cognito's ID token names it so); remove the key"
                )
        tenant_claim, groups_claim = auth.tenant_claim, COGNITO_GROUPS_CLAIM
    else:
        issuer, audiences = _external_issuer(s)
        tenant_claim = str(s.get("tenantClaim", "tenant_id"))
        groups_claim = str(s.get("groupsClaim", "groups"))
    return ApiSettings(
        jwt_issuer=issuer,
        jwt_audiences=audiences,
        tenant_claim=tenant_claim,
        groups_claim=groups_claim,
        cors_origins=s.strs("corsOrigins"),
        throttling_burst_limit=int(s.get("throttlingBurstLimit", 100)),
        throttling_rate_limit=float(s.get("throttlingRateLimit", 50)),
        access_log_retention_days=int(s.get("accessLogRetentionDays", 90)),
    )


def _rollout(s: _Section) -> RolloutSettings:
    settings = RolloutSettings(
        canary_percentage=int(s.get("canaryPercentage", 10)),
        canary_interval_minutes=int(s.get("canaryIntervalMinutes", 5)),
        http_error_percent=float(s.get("httpErrorPercent", 5.0)),
        failed_document_percent=float(s.get("failedDocumentPercent", 50.0)),
        returned_message_percent=float(s.get("returnedMessagePercent", 50.0)),
    )
    for key, value in (
        ("httpErrorPercent", settings.http_error_percent),
        ("failedDocumentPercent", settings.failed_document_percent),
        ("returnedMessagePercent", settings.returned_message_percent),
    ):
        if not 0 < value <= 100:
            raise ValueError(f"config docpipe:rollout.{key} must be in (0, 100]")
    return settings


_GROUP_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_MFA = ("OFF", "OPTIONAL", "ON")


def _auth(s: _Section) -> AuthSettings:
    cognito = _bool(s.get("cognito", False))
    prefix = s.get("domainPrefix", "-")
    settings = AuthSettings(
        cognito=cognito,
        tenant_attribute=str(s.get("tenantAttribute", "tenant_id")),
        admin_group=str(s.get("adminGroup", "docpipe-admins")),
        groups=s.strs("groups", ()),
        callback_urls=s.strs("callbackUrls", ()),
        logout_urls=s.strs("logoutUrls", ()),
        domain_prefix=None if prefix == "-" else str(prefix),
        mfa=str(s.get("mfa", "OPTIONAL")).upper(),
        password_min_length=int(s.get("passwordMinLength", 12)),
        id_token_minutes=int(s.get("idTokenMinutes", 60)),
        access_token_minutes=int(s.get("accessTokenMinutes", 60)),
        refresh_token_days=int(s.get("refreshTokenDays", 30)),
        deletion_protection=_bool(s.get("deletionProtection", True)),
    )
    if cognito:
        _check_auth(settings)
    return settings


def _check_auth(a: AuthSettings) -> None:
    problems: dict[str, object] = {
        "tenantAttribute must be 1-20 letters, digits or _": _ATTRIBUTE_NAME.match(
            a.tenant_attribute
        ),
        "adminGroup and groups must be Cognito group names": all(
            _GROUP_NAME.match(g) for g in (a.admin_group, *a.groups)
        ),
        "callbackUrls must be https:// (http:// only for localhost)": a.callback_urls
        and all(_redirect_ok(u) for u in a.callback_urls),
        "logoutUrls must be https:// (http:// only for localhost)": all(
            _redirect_ok(u) for u in a.logout_urls
        ),
        "domainPrefix must be lower-case letters, digits and hyphens, without aws, "
        "amazon or cognito": a.domain_prefix in (None, "")
        or (
            bool(_DOMAIN_PREFIX.match(a.domain_prefix or ""))
            and not any(w in (a.domain_prefix or "") for w in ("aws", "amazon", "cognito"))
        ),
        f"mfa must be one of {', '.join(_MFA)}": a.mfa in _MFA,
        "passwordMinLength must be 8..99": 8 <= a.password_min_length <= 99,
        "idTokenMinutes and accessTokenMinutes must be 5..1440": all(
            5 <= m <= 1440 for m in (a.id_token_minutes, a.access_token_minutes)
        ),
        "refreshTokenDays must be 1..3650": 1 <= a.refresh_token_days <= 3650,
    }
    for problem, ok in problems.items():
        if not ok:
            raise ValueError(f"config docpipe:auth.{problem}")


_PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
#: CloudFront takes certificates from ACM in us-east-1 only.
_CLOUDFRONT_CERTIFICATE = re.compile(r"^arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")


def _console(s: _Section) -> ConsoleSettings:
    domain = str(s.get("domainName", "")) or None
    certificate = str(s.get("certificateArn", "")) or None
    settings = ConsoleSettings(
        enabled=_bool(s.get("enabled", True)),
        domain_name=domain,
        certificate_arn=certificate,
        # PriceClass_200 is the cheapest class with edge locations in Japan and Taiwan
        price_class=str(s.get("priceClass", "PriceClass_200")),
        noncurrent_version_days=int(s.get("noncurrentVersionDays", 30)),
    )
    if settings.price_class not in _PRICE_CLASSES:
        raise ValueError(f"config docpipe:console.priceClass must be one of {_PRICE_CLASSES}")
    if (domain is None) != (certificate is None):
        raise ValueError(
            "config docpipe:console.domainName and certificateArn go together (a custom "
            "name needs its certificate)"
        )
    if domain is not None and not _DOMAIN.match(domain):
        raise ValueError(f"config docpipe:console.domainName {domain!r} is not a host name")
    if certificate is not None and not _CLOUDFRONT_CERTIFICATE.match(certificate):
        raise ValueError(
            "config docpipe:console.certificateArn must be an ACM certificate in us-east-1 "
            "(CloudFront uses no other region)"
        )
    return settings


def _redirect_ok(url: str) -> bool:
    """Cognito accepts http:// redirect URLs only for localhost."""
    return url.startswith("https://") or url.startswith(("http://localhost", "http://127.0.0.1"))


def load_settings(
    *, stack: str, region: str, read: Callable[[str], Mapping[str, Any] | None]
) -> StackSettings:
    """Build settings from ``read(section)`` (one config object per section name)."""
    raw = {name: read(name) or {} for name in SECTIONS}
    s = {name: _Section(name, raw[name]) for name in SECTIONS}
    auth = _auth(s["auth"])
    return StackSettings(
        stack=stack,
        region=region,
        network=_network(s["network"]),
        documents=_documents(s["documents"]),
        queue=_queue(s["queue"]),
        database=_database(s["database"]),
        models=_models(s["models"], region),
        api=_api(s["api"], auth),
        auth=auth,
        console=_console(s["console"]),
        rollout=_rollout(s["rollout"]),
        alerts=AlertSettings(
            emails=s["alerts"].strs("emails", ()),
            log_retention_days=int(s["alerts"].get("logRetentionDays", 30)),
        ),
        services={name: _service(name, raw["services"].get(name) or {}) for name in SERVICE_NAMES},
        quotas=_quotas(s["quotas"]),
    )
