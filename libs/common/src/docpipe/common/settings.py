"""Configuration shared by every docpipe service, read from environment variables.

Each service subclasses :class:`CommonSettings` with its own fields; nothing here
reads AWS at import time. Unsafe combinations fail at construction time.
"""

from __future__ import annotations

import os
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from docpipe.common.local_stack import started_by_local_stack

__all__ = [
    "AuthMode",
    "CommonSettings",
    "EmbeddingProvider",
    "HttpServiceSettings",
    "running_in_lambda",
]

AuthMode = Literal["none", "jwt", "apigateway"]
#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32
EmbeddingProvider = Literal["local", "sentence-transformers", "bedrock"]


def running_in_lambda() -> bool:
    """True inside an AWS Lambda execution environment."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


class CommonSettings(BaseSettings):
    """Settings every service needs. Environment variable = field name upper-cased."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    #: Services with an HTTP surface validate their auth configuration at start-up.
    serves_http: ClassVar[bool] = True
    #: The service's own login role (migration 0007): a DATABASE_URL naming no user
    #: connects as it. On AWS the role is the username in the service's own secret.
    database_role: ClassVar[str | None] = None

    # Database: DATABASE_URL locally; on AWS a Secrets Manager secret with
    # {"username", "password"[, "host", "port", "dbname"]} plus DATABASE_HOST/PORT/NAME.
    database_url: str | None = None
    database_secret_arn: str | None = None
    database_host: str | None = None
    database_port: int = 5432
    database_name: str = "docpipe"
    database_pool_min: int = Field(default=0, ge=0)
    database_pool_max: int = Field(default=4, ge=1)
    #: Wall-clock budget for opening one connection, every retry included. The processor
    #: can wait out an Aurora resume (about 15 s; 30 s or more after a day paused);
    #: HttpServiceSettings lowers it to fit API Gateway's 30 s integration timeout.
    database_connect_budget_seconds: float = Field(default=60.0, gt=0, le=600)
    #: Longest a single statement may run before the client gives up on it.
    database_command_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: CA bundle (PEM path) that verifies the server on the secret path (AWS); None means
    #: the RDS global bundle shipped in docpipe.common.certs. DATABASE_URL is used as is.
    database_ssl_root_cert: str | None = None

    # AWS (AWS_ENDPOINT_URL points every client at moto locally).
    aws_region: str = Field(default="ap-northeast-1", alias="AWS_REGION")
    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    documents_bucket: str = "docpipe-documents"
    uploads_prefix: str = "uploads/"

    # Embeddings.
    embedding_provider: EmbeddingProvider = "local"
    embedding_model_id: str = "cohere.embed-v4:0"
    embedding_dimensions: int = Field(default=1024, ge=8, le=4096)
    embedding_max_concurrency: int = Field(default=4, ge=1, le=64)
    embedding_max_retries: int = Field(default=6, ge=0, le=20)
    bedrock_endpoint_url: str | None = None  # a local Bedrock-format endpoint in tests

    # Auth (see docs/api.md and docpipe.common.auth).
    auth_mode: AuthMode = "jwt"
    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    #: A token living longer than this (``exp - iat``) is refused, in both token modes.
    jwt_max_lifetime_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    #: JWKS keys are read again at least this often, so a removed key stops working.
    jwt_jwks_refresh_seconds: int = Field(default=300, ge=1, le=900)
    tenant_claim: str = "tenant_id"
    #: Only then does a token without TENANT_CLAIM name its tenant by ``sub``.
    tenant_from_sub: bool = False
    groups_claim: str = "groups"
    #: Members of any of these groups see every document of their tenant (comma-separated).
    admin_groups: Annotated[frozenset[str], NoDecode] = Field(default_factory=frozenset)
    #: Set by the local stack only (docpipe.common.local_stack): the file that lets
    #: AUTH_MODE=none start.
    local_stack_marker: str | None = None

    log_level: str = "INFO"

    @field_validator("database_ssl_root_cert")
    @classmethod
    def _root_cert_exists(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError(f"DATABASE_SSL_ROOT_CERT: no such file: {value}")
        return value

    @field_validator("admin_groups", mode="before")
    @classmethod
    def _split_groups(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(g.strip() for g in value.split(",") if g.strip())
        return value

    @model_validator(mode="after")
    def _check_safe(self) -> CommonSettings:
        if self.serves_http:
            self._check_auth()
        if not self.database_url and not self.database_secret_arn:
            raise ValueError("set DATABASE_URL (local) or DATABASE_SECRET_ARN (AWS)")
        if not self.uploads_prefix.endswith("/"):
            raise ValueError("UPLOADS_PREFIX must end with '/'")
        return self

    def _check_auth(self) -> None:
        if self.auth_mode == "none":
            if running_in_lambda():
                raise ValueError("AUTH_MODE=none is for the local stack only; refused in Lambda")
            if not started_by_local_stack(self.local_stack_marker):
                raise ValueError(
                    "AUTH_MODE=none is for the local stack only (`make run`), which starts the"
                    " services itself with LOCAL_STACK_MARKER naming its marker file; anywhere"
                    " else set AUTH_MODE=jwt (JWT_ISSUER and JWT_SECRET or JWT_JWKS_URL) or"
                    " AUTH_MODE=apigateway (docs/configuration.md)"
                )
        if self.auth_mode != "jwt":
            return
        if not (self.jwt_secret or self.jwt_jwks_url):
            raise ValueError("AUTH_MODE=jwt needs JWT_SECRET (HS256) or JWT_JWKS_URL")
        if not self.jwt_issuer:
            raise ValueError(
                "AUTH_MODE=jwt needs JWT_ISSUER: tokens of any other issuer are refused"
            )
        if self.jwt_secret and len(self.jwt_secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise ValueError(
                f"JWT_SECRET must have at least {MIN_HS256_SECRET_BYTES} bytes (HS256 keys"
                " shorter than the hash can be guessed offline from one token)"
            )


class HttpServiceSettings(CommonSettings):
    """Settings of a service with an HTTP API (upload, query)."""

    #: Browser origins allowed by CORS: comma-separated; ``*`` only on its own.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # A request gets its 503 before API Gateway's 30 s integration timeout (and the
    # functions' 29 s) would cut it off, with room left for the request's own work.
    database_connect_budget_seconds: float = Field(default=20.0, gt=0, le=25)
    database_command_timeout_seconds: float = Field(default=20.0, gt=0, le=25)
    #: ``Retry-After`` of the 503 answered while the database is unavailable.
    database_retry_after_seconds: int = Field(default=10, ge=1, le=3600)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _check_origins(self) -> HttpServiceSettings:
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ValueError("CORS_ORIGINS: '*' cannot be combined with other origins")
        return self
