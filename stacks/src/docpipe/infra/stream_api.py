"""The streamed-answer route: an API Gateway REST API whose integration streams.

API Gateway HTTP APIs buffer every integration response, so ``POST /v1/answer`` with
``"stream": true`` through the HTTP API arrives whole. REST APIs can stream a Lambda proxy
integration (``ResponseTransferMode: STREAM``, invoked with InvokeWithResponseStream:
https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html).
Lambda's Python runtime client cannot write a streamed response, so the query function
runs docpipe's own runtime loop (:data:`QUERY_ENTRY_POINT`,
``docpipe.common.lambda_runtime``), which streams REST API events and answers HTTP API
events through Mangum as before. This component declares one resource, ``POST
/v1/answer`` (and its ``OPTIONS`` preflight), on a REST API:

- **same function, same alias**: the integration invokes the query function's ``live``
  alias, so CodeDeploy's canary shifts streamed traffic with the rest, and the runtime
  reports Requests/Http5xx per version like the buffered path (the canary alarms see both);
- **auth**: a Cognito user pool authorizer on the stack's user pool (the same tokens as
  the HTTP API's JWT authorizer: issuer = the pool, audience = the app client). The
  functions have no internet egress to fetch another issuer's JWKS, so with an external
  issuer the route is not declared (docs/operations.md);
- **CORS**: the preflight goes to the function, whose CORS middleware answers it from
  ``CORS_ORIGINS`` (the same origins the HTTP API allows); no ``*``;
- **throttling**: the stage's method settings, with the HTTP API's rate and burst;
- **timeout**: the integration's equals the function's (a streamed answer may outlive the
  29 s a buffered REST integration allows).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra.settings import ApiSettings

__all__ = [
    "QUERY_ENTRY_POINT",
    "STAGE_NAME",
    "StreamApi",
    "StreamApiArgs",
    "streaming_invoke_uri",
]

#: The query image's Python and the runtime loop that can stream (see the module doc).
QUERY_ENTRY_POINT = ("/opt/uv-python/python3", "-m", "docpipe.common.lambda_runtime")
QUERY_COMMAND = ("docpipe.query.main",)
STAGE_NAME = "stream"  # the route is <invoke URL>/v1/answer, as on the HTTP API


def streaming_invoke_uri(*, region: str, function_arn: str) -> str:
    """The InvokeWithResponseStream integration URI of a function (or alias) ARN."""
    return (
        f"arn:aws:apigateway:{region}:lambda:path/2021-11-15/functions/{function_arn}"
        "/response-streaming-invocations"
    )


@dataclass(frozen=True)
class StreamApiArgs:
    stack: str
    settings: ApiSettings
    region: str
    #: the query function's ``live`` alias
    alias: aws.lambda_.Alias
    user_pool_arn: pulumi.Input[str]
    timeout_seconds: int


class StreamApi(pulumi.ComponentResource):
    api: aws.apigateway.RestApi
    stage: aws.apigateway.Stage
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: StreamApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:stream_api:StreamApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.api = aws.apigateway.RestApi(
            f"{name}-api",
            name=f"docpipe-{args.stack}-stream",
            description="docpipe streamed answers (POST /v1/answer with stream: true)",
            endpoint_configuration={"types": "REGIONAL"},
            opts=child,
        )
        authorizer = aws.apigateway.Authorizer(
            f"{name}-cognito",
            rest_api=self.api.id,
            type="COGNITO_USER_POOLS",
            identity_source="method.request.header.Authorization",
            provider_arns=[args.user_pool_arn],
            opts=child,
        )
        v1 = aws.apigateway.Resource(
            f"{name}-v1", rest_api=self.api.id, parent_id=self.api.root_resource_id,
            path_part="v1", opts=child,
        )  # fmt: skip
        answer = aws.apigateway.Resource(
            f"{name}-answer", rest_api=self.api.id, parent_id=v1.id, path_part="answer",
            opts=child,
        )  # fmt: skip
        uri = args.alias.arn.apply(
            lambda arn: streaming_invoke_uri(region=args.region, function_arn=arn)
        )
        methods = []
        for http_method, authorized in (("POST", True), ("OPTIONS", False)):
            method = aws.apigateway.Method(
                f"{name}-{http_method.lower()}",
                rest_api=self.api.id,
                resource_id=answer.id,
                http_method=http_method,
                authorization="COGNITO_USER_POOLS" if authorized else "NONE",
                authorizer_id=authorizer.id if authorized else None,
                opts=child,
            )
            methods.append(
                aws.apigateway.Integration(
                    f"{name}-{http_method.lower()}-integration",
                    rest_api=self.api.id,
                    resource_id=answer.id,
                    http_method=method.http_method,
                    type="AWS_PROXY",
                    integration_http_method="POST",
                    uri=uri,
                    response_transfer_mode="STREAM",
                    timeout_milliseconds=args.timeout_seconds * 1000,
                    opts=child,
                )
            )
        aws.lambda_.Permission(
            f"{name}-invoke-query",
            action="lambda:InvokeFunction",
            function=args.alias.function_name,
            qualifier=args.alias.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*/v1/answer"),
            opts=child,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.api.id,
            triggers={"methods": "POST,OPTIONS /v1/answer STREAM"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=methods),
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.api.id,
            deployment=deployment.id,
            stage_name=STAGE_NAME,
            xray_tracing_enabled=True,
            opts=child,
        )
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_burst_limit": s.throttling_burst_limit,
                "throttling_rate_limit": s.throttling_rate_limit,
                "metrics_enabled": True,
            },
            opts=child,
        )
        self.url = self.stage.invoke_url
        self.register_outputs({"url": self.url})
