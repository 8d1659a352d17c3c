"""Run the real Pulumi program (stacks/__main__.py) under Pulumi's in-process mocks
and record every resource: its type, logical name, inputs, mocked outputs and owning
component.

The infrastructure guardrail tests (tests/infra) assert over this inventory; the cost
model (bench.cost_model) prices it, so a resource another change adds is seen by both.
Pulumi's mocks: https://www.pulumi.com/docs/iac/guides/testing/unit/
"""

from __future__ import annotations

import asyncio
import copy
import json
import runpy
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

__all__ = [
    "ACCOUNT",
    "DIGESTS",
    "REGION",
    "Inventory",
    "Resource",
    "dev_config",
    "run_program",
]

REPO = Path(__file__).resolve().parents[5]
PROGRAM = REPO / "stacks" / "__main__.py"
STACK_CONFIG = REPO / "Pulumi.dev.yaml"
ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
#: an image digest for every service: the stack as it runs once each service is deployed
DIGESTS = {
    "upload": "sha256:" + "a" * 64,
    "processor": "sha256:" + "b" * 64,
    "query": "sha256:" + "c" * 64,
}
APP_PASSWORD = "mock-generated-app-password-0123456789"
USER_POOL_ID = f"{REGION}_AbCdEf123"
CONSOLE_DOMAIN = "d111111abcdef8.cloudfront.net"
APP_CLIENT_ID = "1example23456789abcdefghij"


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str
    custom: bool
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    protect: bool = False


@dataclass
class Inventory:
    region: str = REGION
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Inventory of {len(self.resources)} resources>"

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def owner(self, resource: Resource) -> str:
        """The logical name of the top-level component a resource belongs to."""
        urns = self.by_urn()
        current = resource
        while current.parent in urns:
            current = urns[current.parent]
        return current.name

    def custom(self) -> list[Resource]:
        return [r for r in self.resources if r.custom]

    def count(self, type_: str) -> int:
        return len(self.of_type(type_))

    def types(self) -> Counter[str]:
        """How many resources of each type the stack creates (components not counted)."""
        return Counter(r.type for r in self.custom())


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _physical(args: MockResourceArgs) -> str:
    return str(args.inputs.get("name") or f"{args.name}-0a1b2c3")


def _state(args: MockResourceArgs) -> dict[str, Any]:  # noqa: C901 - one branch per type
    """Realistic computed outputs for each resource type the program creates."""
    name, typ, inputs = _physical(args), args.typ, args.inputs
    out: dict[str, Any] = {"arn": _arn(typ.split(":")[1].split("/")[0], name)}
    if typ == "aws:s3/bucket:Bucket":
        out = {
            "bucket": name,
            "arn": f"arn:aws:s3:::{name}",
            "bucketRegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }
    elif typ == "aws:cloudfront/distribution:Distribution":
        out = {
            "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/EDFDVBD6EXAMPLE",
            "domainName": CONSOLE_DOMAIN,
            "hostedZoneId": "Z2FDTNDATAQYW2",
        }
    elif typ == "aws:apigateway/stage:Stage":
        out["invokeUrl"] = (
            f"https://{args.name}-api-id.execute-api.{REGION}.amazonaws.com/{inputs['stageName']}"
        )
    elif typ == "aws:sqs/queue:Queue":
        out = {
            "arn": _arn("sqs", name),
            "name": name,
            "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        }
    elif typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
        out["prefixListId"] = "pl-61a54008"
    elif typ in ("aws:ec2/subnet:Subnet", "aws:ec2/securityGroup:SecurityGroup"):
        kind = "subnet" if typ.endswith("Subnet") else "security-group"
        out["arn"] = _arn("ec2", f"{kind}/{args.name}-id")
    elif typ == "aws:rds/cluster:Cluster":
        out |= {
            "endpoint": f"{name}.cluster-cabc123.{REGION}.rds.amazonaws.com",
            "port": 5432,
            "engineVersion": inputs.get("engineVersion"),
            "masterUserSecrets": [
                {
                    "secretArn": _arn("secretsmanager", f"secret:rds!cluster-{name}-AbCdEf"),
                    "kmsKeyId": "",
                    "secretStatus": "active",
                }
            ],
        }
    elif typ == "aws:lambda/function:Function":
        out |= {
            "arn": _arn("lambda", f"function:{name}"),
            "version": "1",
            "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"{_arn('lambda', f'function:{name}')}/invocations",
        }
    elif typ == "aws:lambda/alias:Alias":
        out["arn"] = _arn("lambda", f"function:{inputs['functionName']}:{inputs['name']}")
    elif typ == "aws:apigatewayv2/api:Api":
        out |= {
            "apiEndpoint": f"https://{args.name}-id.execute-api.{REGION}.amazonaws.com",
            "executionArn": _arn("execute-api", f"{args.name}-id"),
        }
    elif typ == "aws:ecr/repository:Repository":
        out["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        out["arn"] = _arn("logs", f"log-group:{name}")
    elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        out["arn"] = _arn("cloudwatch", f"alarm:{name}")
    elif typ == "aws:iam/role:Role":
        out["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    elif typ == "aws:secretsmanager/secret:Secret":
        out["arn"] = _arn("secretsmanager", f"secret:{name}-XyZ123")
    elif typ == "aws:secretsmanager/secretVersion:SecretVersion":
        out["versionId"] = "v-00000000-0000-0000-0000-000000000001"
    elif typ == "random:index/randomPassword:RandomPassword":
        out = {"result": APP_PASSWORD}
    elif typ == "aws:lambda/invocation:Invocation":
        out = {"result": json.dumps({"applied": ["0001_init.sql"]})}
    elif typ == "aws:codedeploy/deploymentConfig:DeploymentConfig":
        out["deploymentConfigName"] = inputs.get("deploymentConfigName")
    elif typ == "aws:cognito/userPool:UserPool":
        out |= {"arn": _arn("cognito-idp", f"userpool/{USER_POOL_ID}"), "id": USER_POOL_ID}
    elif typ == "aws:cognito/userPoolClient:UserPoolClient":
        out["id"] = APP_CLIENT_ID
    return {"name": name, **inputs, **out}


def _mock_id(args: MockResourceArgs) -> str:
    """Cognito's IDs have their own shapes (the issuer URL is built from the pool id)."""
    return {
        "aws:cognito/userPool:UserPool": USER_POOL_ID,
        "aws:cognito/userPoolClient:UserPoolClient": APP_CLIENT_ID,
    }.get(args.typ, f"{args.name}-id")


class RecordingMocks(Mocks):
    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = (copy.deepcopy(args.inputs), bool(args.custom))
        if not args.custom:
            return None, {}
        return _mock_id(args), _state(args)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT,
            }, []
        raise NotImplementedError(f"unexpected invoke {args.token}")


class RecordingMonitor(MockMonitor):
    """Also remembers each registration's parent, ignoreChanges, dependencies and protect."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.options: dict[str, tuple[str, list[str], list[str], bool]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.options[response.urn] = (
            request.parent,
            list(request.ignoreChanges),
            list(request.dependencies),
            bool(request.protect),
        )
        return response


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def dev_config(
    sections: Mapping[str, Mapping[str, Any]] | None = None, **digests: str
) -> dict[str, Any]:
    """Pulumi.dev.yaml's ``config`` map with image digests set and ``sections`` merged into
    its ``docpipe:<section>`` objects (a ``None`` value removes a key).
    """
    raw: dict[str, Any] = yaml.safe_load(STACK_CONFIG.read_text())["config"]
    services = raw["docpipe:services"]
    for service, digest in digests.items():
        services[service]["imageDigest"] = digest
    for section, values in (sections or {}).items():
        raw[f"docpipe:{section}"] = _merged(raw.get(f"docpipe:{section}", {}), dict(values))
    return raw


def run_program(config: Mapping[str, Any]) -> Inventory:
    """Every resource the program declares for ``config`` (a stack's ``config`` map)."""
    # Pulumi's test runner uses the thread's current event loop; async tests that ran
    # earlier in the session (pytest-asyncio) leave none set.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="docpipe", stack="dev", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in config.items()
        }
    )

    inventory = Inventory(region=str(config["aws:region"]))

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[None]:
        root = pulumi.runtime.get_root_resource()
        assert root is not None
        root.outputs.clear()  # type: ignore[attr-defined]
        with warnings.catch_warnings():  # pulumi_aws warns about types we do not use
            warnings.simplefilter("ignore", DeprecationWarning)
            runpy.run_path(str(PROGRAM), run_name="__main__")
        exported = dict(root.outputs)  # type: ignore[attr-defined]
        return pulumi.Output.from_input(exported).apply(inventory.outputs.update)

    program()
    for urn, registration in monitor.resources.items():
        typ = urn.split("::")[-2].split("$")[-1]
        name = urn.split("::")[-1]
        inputs, custom = mocks.inputs[(typ, name)]
        parent, ignore_changes, dependencies, protect = monitor.options[urn]
        inventory.resources.append(
            Resource(
                urn=urn,
                type=typ,
                name=name,
                inputs=inputs,
                outputs=dict(registration.state),
                parent=parent,
                custom=custom,
                ignore_changes=ignore_changes,
                dependencies=dependencies,
                protect=protect,
            )
        )
    return inventory
