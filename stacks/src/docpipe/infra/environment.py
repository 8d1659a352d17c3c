"""Each function's environment: names from the env-var contract, values from the
stack. Only ARNs and endpoints go here, never a secret value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from docpipe.infra.settings import StackSettings

__all__ = ["Endpoints", "service_environment"]


@dataclass(frozen=True)
class Endpoints:
    """Deployed values the services need at runtime."""

    database_host: pulumi.Input[str]
    database_port: pulumi.Input[str]
    #: each service's own database role secret, by service name
    database_secret_arns: Mapping[str, pulumi.Input[str]]
    bucket: pulumi.Input[str]
    queue_url: pulumi.Input[str]


def _database(
    service: str, settings: StackSettings, endpoints: Endpoints
) -> dict[str, pulumi.Input[str]]:
    """The service's own role's secret: it can read no other (policies.py)."""
    return {
        "DATABASE_SECRET_ARN": endpoints.database_secret_arns[service],
        "DATABASE_HOST": endpoints.database_host,
        "DATABASE_PORT": endpoints.database_port,
        "DATABASE_NAME": settings.database.database_name,
    }


def _embedding(settings: StackSettings) -> dict[str, pulumi.Input[str]]:
    return {
        "EMBEDDING_PROVIDER": "bedrock",
        "EMBEDDING_MODEL_ID": settings.models.embedding_model_id,
        "EMBEDDING_DIMENSIONS": str(settings.models.embedding_dimensions),
    }


def _http(settings: StackSettings) -> dict[str, pulumi.Input[str]]:
    """Claim names as the tokens spell them (Cognito: ``custom:<attr>``, ``cognito:groups``)."""
    env: dict[str, pulumi.Input[str]] = {
        "AUTH_MODE": "apigateway",
        "TENANT_CLAIM": settings.api.tenant_claim,
        "GROUPS_CLAIM": settings.api.groups_claim,
        "CORS_ORIGINS": ",".join(settings.api.cors_origins),
    }
    if settings.auth.cognito:
        env["ADMIN_GROUPS"] = settings.auth.admin_group
    return env


def _with_console_cors(
    env: dict[str, pulumi.Input[str]], console_origins: Sequence[pulumi.Input[str]]
) -> dict[str, pulumi.Input[str]]:
    """The services' own CORS (the streamed-answer route's preflight) admits the console."""
    if "CORS_ORIGINS" in env and console_origins:
        env["CORS_ORIGINS"] = pulumi.Output.all(env["CORS_ORIGINS"], *console_origins).apply(
            lambda origins: ",".join(o for o in origins if o)
        )
    return env


def service_environment(
    *,
    service: str,
    settings: StackSettings,
    endpoints: Endpoints,
    console_origins: Sequence[pulumi.Input[str]] = (),
) -> dict[str, pulumi.Input[str]]:
    """Environment variables of one service's function (AWS_REGION is set by Lambda);
    ``console_origins``: the web console's, when the stack has one."""
    env: dict[str, pulumi.Input[str]] = {
        "LOG_LEVEL": settings.services[service].log_level,
        **_database(service, settings, endpoints),
    }
    storage: dict[str, pulumi.Input[str]] = {
        "DOCUMENTS_BUCKET": endpoints.bucket,
        "UPLOADS_PREFIX": settings.documents.uploads_prefix,
    }
    if service == "upload":
        env |= (
            storage
            | _http(settings)
            | {
                "INGEST_QUEUE_URL": endpoints.queue_url,
                "MAX_UPLOAD_BYTES": str(settings.documents.max_upload_bytes),
            }
            | settings.quotas.environment()
        )
    elif service == "processor":
        env |= (
            storage
            | _embedding(settings)
            | {
                "INGEST_QUEUE_URL": endpoints.queue_url,
                # the last delivery marks the document failed, so attempts = SQS receives
                "MAX_ATTEMPTS": str(settings.queue.max_receive_count),
                "MAX_DOCUMENT_BYTES": str(settings.documents.max_upload_bytes),
                "PROCESSING_LEASE_SECONDS": str(settings.services[service].timeout_seconds + 60),
            }
        )
    elif service == "query":
        env |= (
            _embedding(settings)
            | _http(settings)
            | {
                "ANSWER_PROVIDER": "bedrock",
                "ANSWER_MODEL_ID": settings.models.answer_model_id,
            }
        )
    else:
        raise ValueError(f"unknown service {service!r}")
    return _with_console_cors(env, console_origins)
