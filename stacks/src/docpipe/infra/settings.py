"""Typed stack settings, parsed from the ``docpipe:*`` sections of a stack's config.

Parsing is a pure function over plain mappings so tests can feed Pulumi.dev.yaml
directly; ``__main__`` feeds it from ``pulumi.Config``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SECTIONS",
    "SERVICE_NAMES",
    "AlertSettings",
    "ApiSettings",
    "DatabaseSettings",
    "DocumentSettings",
    "ModelSettings",
    "NetworkSettings",
    "QueueSettings",
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
    "rollout",
    "alerts",
    "services",
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


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
    app_password_version: int


@dataclass(frozen=True)
class ModelSettings:
    embedding_model_id: str
    embedding_dimensions: int
    answer_model_id: str
    inference_regions: tuple[str, ...]


@dataclass(frozen=True)
class ApiSettings:
    jwt_issuer: str
    jwt_audiences: tuple[str, ...]
    tenant_claim: str
    cors_origins: tuple[str, ...]
    throttling_burst_limit: int
    throttling_rate_limit: float
    access_log_retention_days: int


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
    rollout: RolloutSettings
    alerts: AlertSettings
    services: Mapping[str, ServiceSettings]


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


def _database(s: _Section) -> DatabaseSettings:
    return DatabaseSettings(
        engine_version=str(s.get("engineVersion")),
        database_name=str(s.get("databaseName", "docpipe")),
        min_capacity=float(s.get("minCapacity")),
        max_capacity=float(s.get("maxCapacity")),
        seconds_until_auto_pause=int(s.get("secondsUntilAutoPause", 3600)),
        backup_retention_days=int(s.get("backupRetentionDays", 7)),
        deletion_protection=_bool(s.get("deletionProtection", True)),
        instance_count=int(s.get("instanceCount", 1)),
        app_password_version=int(s.get("appPasswordVersion", 1)),
    )


def _models(s: _Section, region: str) -> ModelSettings:
    return ModelSettings(
        embedding_model_id=str(s.get("embeddingModelId")),
        embedding_dimensions=int(s.get("embeddingDimensions", 1024)),
        answer_model_id=str(s.get("answerModelId")),
        inference_regions=s.strs("inferenceRegions", (region,)),
    )


def _api(s: _Section) -> ApiSettings:
    return ApiSettings(
        jwt_issuer=str(s.get("jwtIssuer")),
        jwt_audiences=s.strs("jwtAudiences"),
        tenant_claim=str(s.get("tenantClaim", "tenant_id")),
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


def load_settings(
    *, stack: str, region: str, read: Callable[[str], Mapping[str, Any] | None]
) -> StackSettings:
    """Build settings from ``read(section)`` (one config object per section name)."""
    raw = {name: read(name) or {} for name in SECTIONS}
    s = {name: _Section(name, raw[name]) for name in SECTIONS}
    return StackSettings(
        stack=stack,
        region=region,
        network=_network(s["network"]),
        documents=_documents(s["documents"]),
        queue=_queue(s["queue"]),
        database=_database(s["database"]),
        models=_models(s["models"], region),
        api=_api(s["api"]),
        rollout=_rollout(s["rollout"]),
        alerts=AlertSettings(
            emails=s["alerts"].strs("emails", ()),
            log_retention_days=int(s["alerts"].get("logRetentionDays", 30)),
        ),
        services={name: _service(name, raw["services"].get(name) or {}) for name in SERVICE_NAMES},
    )
