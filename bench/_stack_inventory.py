"""What the Pulumi program declares: run stacks/__main__.py under Pulumi's in-process
mocks with the dev stack's config and count the resources by type.

The cost model prices this inventory rather than a hand-kept list, so a resource that
another change adds (a Cognito user pool, an endpoint policy) shows up here at once and
either has a price line in :mod:`bench.cost_model` or is reported as unpriced. Image
digests are filled in (every service deployed), as on a running stack.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

__all__ = ["Inventory", "StackResource", "declared_resources", "dev_config"]

REPO = Path(__file__).resolve().parents[1]
PROGRAM = REPO / "stacks" / "__main__.py"
STACK_CONFIG = REPO / "Pulumi.dev.yaml"
_ACCOUNT = "123456789012"
_DEPLOYED = {name: "sha256:" + c * 64 for name, c in (("upload", "a"), ("processor", "b"))}
_DEPLOYED["query"] = "sha256:" + "c" * 64


@dataclass(frozen=True)
class StackResource:
    type: str
    name: str
    inputs: Mapping[str, Any]


@dataclass
class Inventory:
    region: str
    resources: list[StackResource] = field(default_factory=list)

    def of_type(self, type_: str) -> list[StackResource]:
        return [r for r in self.resources if r.type == type_]

    def count(self, type_: str) -> int:
        return len(self.of_type(type_))

    def types(self) -> Counter[str]:
        return Counter(r.type for r in self.resources)


def dev_config(path: Path = STACK_CONFIG) -> dict[str, Any]:
    """The stack file's ``config`` map, with every service's image digest set."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text())["config"]
    for service, digest in _DEPLOYED.items():
        raw["docpipe:services"][service]["imageDigest"] = digest
    return raw


def declared_resources(config: Mapping[str, Any] | None = None) -> Inventory:
    """Every custom resource the program declares for ``config`` (default: dev, deployed)."""
    import pulumi
    from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

    raw = dict(config) if config is not None else dev_config()
    region = str(raw["aws:region"])
    recorded: list[StackResource] = []

    class _Recorder(Mocks):
        def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            if not args.custom:  # a ComponentResource: its children are recorded
                return None, {}
            recorded.append(StackResource(args.typ, args.name, dict(args.inputs)))
            return f"{args.name}-id", _outputs(args, region)

        def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": _ACCOUNT, "arn": "", "userId": "", "id": _ACCOUNT}, []
            raise NotImplementedError(args.token)

    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(_Recorder(), project="docpipe", stack="dev", preview=False)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    )

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            runpy.run_path(str(PROGRAM), run_name="__main__")

    program()
    return Inventory(region=region, resources=recorded)


def _outputs(args: Any, region: str) -> dict[str, Any]:
    """Enough computed outputs for the program's ``apply`` chains to run."""
    name = str(args.inputs.get("name") or f"{args.name}-physical")
    service = args.typ.split(":")[1].split("/")[0]
    out: dict[str, Any] = {
        **args.inputs,
        "name": name,
        "arn": f"arn:aws:{service}:{region}:{_ACCOUNT}:{name}",
    }
    extra: dict[str, dict[str, Any]] = {
        "aws:s3/bucket:Bucket": {"bucket": name, "arn": f"arn:aws:s3:::{name}"},
        "aws:sqs/queue:Queue": {"url": f"https://sqs.{region}.amazonaws.com/{_ACCOUNT}/{name}"},
        "aws:rds/cluster:Cluster": {"endpoint": f"{name}.cluster.local", "port": 5432},
        "aws:lambda/function:Function": {"version": "1"},
        "aws:ecr/repository:Repository": {"repositoryUrl": f"{_ACCOUNT}.dkr.ecr/{name}"},
        "aws:apigatewayv2/api:Api": {"apiEndpoint": "https://api", "executionArn": "arn"},
        "random:index/randomPassword:RandomPassword": {"result": "x" * 40},
        "aws:ec2/vpcEndpoint:VpcEndpoint": {"prefixListId": "pl-0"},
    }
    out.update(extra.get(args.typ, {}))
    return out
