"""Endpoint policies: each VPC endpoint admits only what the functions' roles use.

The documents are projections of the roles' own statements
(:func:`docpipe.infra.policies.endpoint_policy`), attached with one
``aws.ec2.VpcEndpointPolicy`` per endpoint. They are separate resources (not the
endpoints' ``policy`` input) because they name ARNs that exist only after the bucket,
queue, secrets and database do, while the endpoints are created with the network.

The S3 gateway endpoint carries every S3 request from the VPC, not only the functions'.
Nothing else in the VPC uses S3 today: Lambda pulls container images from ECR through
its own service network, not through the function's ENIs, and Aurora does not use S3
(no ``aws_s3`` import/export). Anything added later that needs S3 from the VPC must add
its grants to a role first, or the endpoint refuses it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from docpipe.infra import policies
from docpipe.infra.network import ENDPOINT_ACTION_PREFIX

__all__ = ["EndpointPolicies", "EndpointPoliciesArgs"]


@dataclass(frozen=True)
class EndpointPoliciesArgs:
    #: endpoint service name (``s3``, ``sqs``…) → its endpoint
    endpoints: Mapping[str, aws.ec2.VpcEndpoint]
    #: every Allow statement of every function role in the stack
    statements: pulumi.Input[Sequence[policies.Statement]]
    account_id: pulumi.Input[str]


def _render(args: list[Any], *, prefix: str) -> str:
    statements, account_id = args
    return json.dumps(
        policies.endpoint_policy(
            statements=statements, service_prefix=prefix, account_id=account_id
        )
    )


class EndpointPolicies(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: EndpointPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:endpoint_policies:EndpointPolicies", name, None, opts)
        self.policies: dict[str, aws.ec2.VpcEndpointPolicy] = {}
        for service, endpoint in sorted(args.endpoints.items()):
            document = pulumi.Output.all(args.statements, args.account_id).apply(
                functools.partial(_render, prefix=ENDPOINT_ACTION_PREFIX[service])
            )
            self.policies[service] = aws.ec2.VpcEndpointPolicy(
                f"{name}-{service}",
                vpc_endpoint_id=endpoint.id,
                policy=document,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({service: p.id for service, p in self.policies.items()})
