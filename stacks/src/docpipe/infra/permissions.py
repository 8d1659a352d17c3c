"""What each function's role may do, once the ARNs it names exist.

:mod:`docpipe.infra.policies` builds the statements as plain JSON from plain strings (so
tests read them without Pulumi); this module feeds them the stack's resources: the
documents bucket and queue, each service's own database role secret (a function may read
no other), and the Bedrock models it calls. The same statements decide what the VPC
endpoints admit (:mod:`docpipe.infra.endpoint_policies`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from docpipe.infra import policies
from docpipe.infra.model_catalog import ModelRoute
from docpipe.infra.settings import SERVICE_NAMES, StackSettings

__all__ = ["ServiceStatements", "deployed_statements", "service_statements"]

#: service name → the Allow statements of its function's role
ServiceStatements = Mapping[str, pulumi.Output[list[policies.Statement]]]


def _invoke(
    sid: str, *routes: ModelRoute, account_id: pulumi.Output[str]
) -> pulumi.Output[list[policies.Statement]]:
    return account_id.apply(
        lambda account: policies.bedrock_invoke_statements(
            sid=sid, routes=routes, account_id=account
        )
    )


def service_statements(
    *,
    settings: StackSettings,
    account_id: pulumi.Output[str],
    bucket_arn: pulumi.Input[str],
    queue_arn: pulumi.Input[str],
    role_secret_arns: Mapping[str, pulumi.Input[str]],
) -> dict[str, pulumi.Output[list[policies.Statement]]]:
    """Each service's statements (upload, processor, query)."""
    prefix = settings.documents.uploads_prefix
    models = settings.models

    def upload(a: list[Any]) -> list[policies.Statement]:
        return policies.upload_statements(
            bucket_arn=a[0], uploads_prefix=prefix, secret_arn=a[1], queue_arn=a[2]
        )

    def processor(a: list[Any]) -> list[policies.Statement]:
        return policies.processor_statements(
            bucket_arn=a[0],
            uploads_prefix=prefix,
            secret_arn=a[1],
            queue_arn=a[2],
            embedding_invoke=a[3],
        )

    def query(a: list[Any]) -> list[policies.Statement]:
        return policies.query_statements(secret_arn=a[0], model_invoke=a[1])

    return {
        "upload": pulumi.Output.all(bucket_arn, role_secret_arns["upload"], queue_arn).apply(
            upload
        ),
        "processor": pulumi.Output.all(
            bucket_arn,
            role_secret_arns["processor"],
            queue_arn,
            _invoke("EmbedChunks", models.embedding, account_id=account_id),
        ).apply(processor),
        "query": pulumi.Output.all(
            role_secret_arns["query"],
            _invoke("EmbedAndAnswer", models.embedding, models.answer, account_id=account_id),
        ).apply(query),
    }


def deployed_statements(
    *,
    settings: StackSettings,
    services: ServiceStatements,
    master_secret_arn: pulumi.Input[str],
    role_secret_arns: Mapping[str, pulumi.Input[str]],
) -> pulumi.Output[list[policies.Statement]]:
    """Every statement of the functions that are deployed: the services', and the migration
    function's (built from the processor image), as :mod:`docpipe.infra.migrations` grants
    it. What the VPC endpoints admit."""
    groups = [services[name] for name in SERVICE_NAMES if settings.services[name].deployed]
    if settings.services["processor"].deployed:
        groups.append(
            pulumi.Output.all(master_secret_arn, *role_secret_arns.values()).apply(
                lambda a: policies.migration_statements(
                    master_secret_arn=a[0], role_secret_arns=a[1:]
                )
            )
        )
    return pulumi.Output.all(*groups).apply(
        lambda lists: [statement for group in lists for statement in group]
    )
