"""Configuration shared by every docpipe service, read from environment variables.

Each service subclasses :class:`CommonSettings` with its own fields; nothing here
reads AWS at import time. Unsafe combinations fail at construction time.
"""

from __future__ import annotations

import os
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "AuthMode",
    "CommonSettings",
    "EmbeddingProvider",
    "HttpServiceSettings",
    "running_in_lambda",
]

AuthMode = Literal["none", "jwt", "apigateway"]
EmbeddingProvider = Literal["local", "sentence-transformers", "bedrock"]


def running_in_lambda() -> bool:
    """True inside an AWS Lambda execution environment."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


class CommonSettings(BaseSettings):
    """Settings every service needs. Environment variable = field name upper-cased."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    #: Services with an HTTP surface validate their auth configuration at start-up.
    serves_http: ClassVar[bool] = True

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

    # Auth (see ARCHITECTURE §6).
    auth_mode: AuthMode = "jwt"
    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    tenant_claim: str = "tenant_id"

    log_level: str = "INFO"

    @field_validator("database_ssl_root_cert")
    @classmethod
    def _root_cert_exists(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError(f"DATABASE_SSL_ROOT_CERT: no such file: {value}")
        return value

    @model_validator(mode="after")
    def _check_safe(self) -> CommonSettings:
        if self.serves_http and self.auth_mode == "none" and running_in_lambda():
            raise ValueError("AUTH_MODE=none is for local development only; refused inside Lambda")
        has_jwt_key = bool(self.jwt_secret or self.jwt_jwks_url)
        if self.serves_http and self.auth_mode == "jwt" and not has_jwt_key:
            raise ValueError("AUTH_MODE=jwt needs JWT_SECRET (HS256) or JWT_JWKS_URL")
        if not self.database_url and not self.database_secret_arn:
            raise ValueError("set DATABASE_URL (local) or DATABASE_SECRET_ARN (AWS)")
        if not self.uploads_prefix.endswith("/"):
            raise ValueError("UPLOADS_PREFIX must end with '/'")
        return self


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
