"""Migrations: a function built from the processor image that applies the schema
migrations (``docpipe.common.migrations``) as the master user and sets each service
role's password from that role's secret (``<SERVICE>_DATABASE_SECRET_ARN``), invoked by
``pulumi up`` whenever the deployer's SQL files or a role's password change.

One source of truth: the invocation sends the manifest of the deployer's checkout
(``migration_manifest``, the same function the image runs), and the function refuses to
apply anything when its image carries a different set, which fails ``pulumi up``
(``aws.lambda_.Invocation`` fails when the function returns an error). After creation the
function's image, like the processor's, belongs to the rollout command, which points it
at each new processor image and runs it before that image takes traffic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.common.migrations import manifest_fingerprint
from docpipe.infra import naming, policies
from docpipe.infra.lambda_function import FunctionPlacement, FunctionSpec, create_vpc_function

__all__ = ["MIGRATE_HANDLER", "Migrations", "MigrationsArgs"]

MIGRATE_HANDLER = "docpipe.processor.migrate_handler.handler"


@dataclass(frozen=True)
class MigrationsArgs:
    stack: str
    image_uri: pulumi.Input[str]
    placement: FunctionPlacement
    #: version → SHA-256 of each migration file in the deployer's checkout
    manifest: Mapping[str, str]
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[str]
    database_name: str
    embedding_dimensions: int
    master_secret_arn: pulumi.Input[str]
    #: each service role's secret ARN, by service name
    role_secret_arns: Mapping[str, pulumi.Input[str]]
    #: each service role's secret version: a new password re-runs the function
    role_secret_version_ids: Mapping[str, pulumi.Input[str]]
    log_retention_days: int
    depends_on: Sequence[pulumi.Resource]


class Migrations(pulumi.ComponentResource):
    invocation: aws.lambda_.Invocation

    def __init__(
        self, name: str, args: MigrationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:migrations:Migrations", name, None, opts)
        statements = pulumi.Output.all(
            args.master_secret_arn, *args.role_secret_arns.values()
        ).apply(
            lambda arns: policies.migration_statements(
                master_secret_arn=arns[0], role_secret_arns=arns[1:]
            )
        )
        role_secrets = {
            f"{service.upper()}_DATABASE_SECRET_ARN": arn
            for service, arn in args.role_secret_arns.items()
        }
        fn = create_vpc_function(
            name,
            FunctionSpec(
                function_name=naming.function_name(stack=args.stack, service="migrate"),
                description="docpipe schema migrations (invoked by pulumi up)",
                image_uri=args.image_uri,
                command=[MIGRATE_HANDLER],
                memory_mb=512,
                timeout_seconds=300,
                publish=False,
                code_owned_by_rollout=True,
                environment={
                    "MASTER_SECRET_ARN": args.master_secret_arn,
                    **role_secrets,
                    # the handler's settings require a database secret: the one it uses
                    "DATABASE_SECRET_ARN": args.master_secret_arn,
                    "EMBEDDING_DIMENSIONS": str(args.embedding_dimensions),
                    "DATABASE_HOST": args.database_host,
                    "DATABASE_PORT": args.database_port,
                    "DATABASE_NAME": args.database_name,
                    "LOG_LEVEL": "INFO",
                },
                statements=statements,
                log_retention_days=args.log_retention_days,
            ),
            args.placement,
            parent=self,
        )
        self.invocation = aws.lambda_.Invocation(
            f"{name}-apply",
            function_name=fn.function.name,
            input=json.dumps({"action": "migrate", "expected": dict(args.manifest)}),
            triggers={
                "migrations": manifest_fingerprint(dict(args.manifest)),
                **{
                    f"{service}_secret_version": version
                    for service, version in args.role_secret_version_ids.items()
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"function_name": fn.function.name})
