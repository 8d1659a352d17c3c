"""Network: a VPC over two AZs with private subnets only, per-role security groups,
an S3 gateway endpoint and interface endpoints for Secrets Manager, Bedrock runtime
and SQS. There is no internet gateway and no NAT: everything the functions call is
reached through an endpoint.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra.settings import NetworkSettings

__all__ = [
    "ENDPOINT_ACTION_PREFIX",
    "INTERFACE_ENDPOINT_SERVICES",
    "Network",
    "NetworkArgs",
    "subnet_cidrs",
]

INTERFACE_ENDPOINT_SERVICES: tuple[str, ...] = ("secretsmanager", "bedrock-runtime", "sqs")
#: Each endpoint's service name → the IAM action prefix of the calls it carries.
ENDPOINT_ACTION_PREFIX: dict[str, str] = {
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "bedrock-runtime": "bedrock",
    "sqs": "sqs",
}
_HTTPS = 443
_POSTGRES = 5432


def subnet_cidrs(*, vpc_cidr: str, count: int) -> list[str]:
    """The first ``count`` /20 blocks of the VPC range, one per private subnet."""
    network = ipaddress.ip_network(vpc_cidr)
    return [str(net) for net, _ in zip(network.subnets(new_prefix=20), range(count), strict=False)]


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    region: str


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    subnets: list[aws.ec2.Subnet]
    functions_sg: aws.ec2.SecurityGroup
    database_sg: aws.ec2.SecurityGroup
    endpoints_sg: aws.ec2.SecurityGroup
    interface_endpoints: list[aws.ec2.VpcEndpoint]
    #: endpoint service name (``s3``, ``sqs``…) → endpoint; policies: endpoint_policies.py
    endpoints: dict[str, aws.ec2.VpcEndpoint]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.settings.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        self._default_sg_locked(name, child)
        self.route_table = aws.ec2.RouteTable(
            f"{name}-private", vpc_id=self.vpc.id, tags={"Name": f"{name}-private"}, opts=child
        )
        cidrs = subnet_cidrs(vpc_cidr=args.settings.cidr, count=2)
        self.subnets = []
        for az, cidr in zip(args.settings.availability_zones, cidrs, strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{az}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{az}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{az}",
                subnet_id=subnet.id,
                route_table_id=self.route_table.id,
                opts=child,
            )
            self.subnets.append(subnet)
        self._security_groups(name, child)
        self._endpoints(name, args.region, child)
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "subnet_ids": [s.id for s in self.subnets],
                "functions_security_group_id": self.functions_sg.id,
                "database_security_group_id": self.database_sg.id,
            }
        )

    @property
    def subnet_ids(self) -> list[pulumi.Output[str]]:
        return [s.id for s in self.subnets]

    def _default_sg_locked(self, name: str, child: pulumi.ResourceOptions) -> None:
        """Adopt the VPC's default security group with no rules (CIS EC2.2)."""
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[], opts=child
        )

    def _group(self, name: str, role: str, child: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{name}-{role}",
            vpc_id=self.vpc.id,
            description=f"docpipe {role}",
            tags={"Name": f"{name}-{role}"},
            opts=child,
        )

    def _security_groups(self, name: str, child: pulumi.ResourceOptions) -> None:
        self.functions_sg = self._group(name, "functions", child)
        self.database_sg = self._group(name, "database", child)
        self.endpoints_sg = self._group(name, "endpoints", child)
        rules = [
            (
                "functions-to-database",
                aws.vpc.SecurityGroupEgressRule,
                self.functions_sg,
                self.database_sg,
                _POSTGRES,
            ),
            (
                "database-from-functions",
                aws.vpc.SecurityGroupIngressRule,
                self.database_sg,
                self.functions_sg,
                _POSTGRES,
            ),
            (
                "functions-to-endpoints",
                aws.vpc.SecurityGroupEgressRule,
                self.functions_sg,
                self.endpoints_sg,
                _HTTPS,
            ),
            (
                "endpoints-from-functions",
                aws.vpc.SecurityGroupIngressRule,
                self.endpoints_sg,
                self.functions_sg,
                _HTTPS,
            ),
        ]
        for rule_name, rule_type, group, peer, port in rules:
            rule_type(
                f"{name}-{rule_name}",
                security_group_id=group.id,
                referenced_security_group_id=peer.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=rule_name,
                opts=child,
            )

    def _endpoints(self, name: str, region: str, child: pulumi.ResourceOptions) -> None:
        s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[self.route_table.id],
            tags={"Name": f"{name}-s3"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-functions-to-s3",
            security_group_id=self.functions_sg.id,
            prefix_list_id=s3.prefix_list_id,
            ip_protocol="tcp",
            from_port=_HTTPS,
            to_port=_HTTPS,
            description="functions-to-s3-gateway",
            opts=child,
        )
        self.interface_endpoints = [
            aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.subnet_ids,
                security_group_ids=[self.endpoints_sg.id],
                tags={"Name": f"{name}-{service}"},
                opts=child,
            )
            for service in INTERFACE_ENDPOINT_SERVICES
        ]
        self.endpoints = {
            "s3": s3,
            **dict(zip(INTERFACE_ENDPOINT_SERVICES, self.interface_endpoints, strict=True)),
        }
