"""HTTP API: API Gateway v2 with a JWT authorizer on every route but health,
integrations on the services' ``live`` aliases, CORS, stage throttling, access logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra import naming
from docpipe.infra.settings import ApiSettings

__all__ = ["ACCESS_LOG_FORMAT", "HttpApi", "HttpApiArgs", "Route", "api_routes"]

#: Integration timeout; API Gateway HTTP APIs cap it at 30 s.
_INTEGRATION_TIMEOUT_MS = 30_000

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    }
)


def _slug(route_key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", route_key.lower()).strip("-")


@dataclass(frozen=True)
class Route:
    key: str
    service: str
    authorized: bool = True


def api_routes() -> list[Route]:
    """Every route of the v1 contract (docs/api.md) and the service behind it."""
    return [
        Route("POST /v1/documents", "upload"),
        Route("GET /v1/documents", "upload"),
        Route("GET /v1/documents/{id}", "upload"),
        Route("PATCH /v1/documents/{id}", "upload"),
        Route("GET /v1/documents/{id}/content", "upload"),
        Route("DELETE /v1/documents/{id}", "upload"),
        Route("POST /v1/documents/{id}/reprocess", "upload"),
        Route("POST /v1/uploads", "upload"),
        Route("POST /v1/search", "query"),
        Route("POST /v1/answer", "query"),
        Route("GET /v1/conversations", "query"),
        Route("GET /v1/conversations/{id}", "query"),
        Route("DELETE /v1/conversations/{id}", "query"),
        Route("GET /healthz", "upload", authorized=False),
    ]


@dataclass(frozen=True)
class HttpApiArgs:
    stack: str
    settings: ApiSettings
    #: service name → its live alias; services without an image yet are absent.
    aliases: Mapping[str, aws.lambda_.Alias]
    #: the JWT authorizer's issuer and audiences (the Cognito pool's, or from config)
    jwt_issuer: pulumi.Input[str]
    jwt_audiences: pulumi.Input[Sequence[pulumi.Input[str]]]
    #: browser origins known only at deploy time (the web console's), besides the config's
    extra_cors_origins: Sequence[pulumi.Input[str]] = ()


class HttpApi(pulumi.ComponentResource):
    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage

    def __init__(
        self, name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:http_api:HttpApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            protocol_type="HTTP",
            cors_configuration={
                "allow_origins": [*s.cors_origins, *args.extra_cors_origins],
                "allow_methods": ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                "allow_headers": ["authorization", "content-type"],
                "max_age": 3600,
            },
            opts=child,
        )
        authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-jwt",
            api_id=self.api.id,
            authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            jwt_configuration={"issuer": args.jwt_issuer, "audiences": args.jwt_audiences},
            opts=child,
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{naming.prefix(stack=args.stack)}-http",
            retention_in_days=s.access_log_retention_days,
            opts=child,
        )
        integrations = {
            service: self._integrate(name, service, alias, child)
            for service, alias in sorted(args.aliases.items())
        }
        routes = [
            aws.apigatewayv2.Route(
                f"{name}-route-{_slug(route.key)}",
                api_id=self.api.id,
                route_key=route.key,
                target=integrations[route.service].id.apply(lambda i: f"integrations/{i}"),
                authorization_type="JWT" if route.authorized else "NONE",
                authorizer_id=authorizer.id if route.authorized else None,
                opts=child,
            )
            for route in api_routes()
            if route.service in integrations
        ]
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings={
                "throttling_burst_limit": s.throttling_burst_limit,
                "throttling_rate_limit": s.throttling_rate_limit,
                "detailed_metrics_enabled": True,
            },
            access_log_settings={
                "destination_arn": access_logs.arn,
                "format": ACCESS_LOG_FORMAT,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=routes),
        )
        self.register_outputs({"url": self.api.api_endpoint})

    def _integrate(
        self, name: str, service: str, alias: aws.lambda_.Alias, child: pulumi.ResourceOptions
    ) -> aws.apigatewayv2.Integration:
        aws.lambda_.Permission(
            f"{name}-invoke-{service}",
            action="lambda:InvokeFunction",
            function=alias.function_name,
            qualifier=alias.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
            opts=child,
        )
        return aws.apigatewayv2.Integration(
            f"{name}-{service}",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=alias.arn,
            payload_format_version="2.0",
            timeout_milliseconds=_INTEGRATION_TIMEOUT_MS,
            opts=child,
        )
