"""Roll out, watch and roll back one service's Lambda alias through CodeDeploy.

    uv run python -m docpipe.infra.rollout deploy   --stack dev --service query
    uv run python -m docpipe.infra.rollout status   --stack dev --service query
    uv run python -m docpipe.infra.rollout rollback --stack dev --service query [--to-version N]

``deploy`` publishes the function's current code and configuration as a version
(idempotent: Lambda returns the existing version when nothing changed), then asks
CodeDeploy to shift the ``live`` alias from its current version to that one using
the service's canary config; CodeDeploy rolls back by itself when one of the
service's alarms fires. Exit status: 0 succeeded, 1 failed/stopped/rolled back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from docpipe.infra import naming
from docpipe.infra.settings import SERVICE_NAMES

__all__ = [
    "ACTIVE_STATUSES",
    "Outcome",
    "RolloutError",
    "Target",
    "appspec",
    "deploy",
    "main",
    "rollback",
    "status",
    "watch",
]

ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
_IMMEDIATE = "CodeDeployDefault.LambdaAllAtOnce"


class RolloutError(Exception):
    """The rollout cannot start (bad state or arguments)."""


@dataclass(frozen=True)
class Target:
    function_name: str
    alias: str
    application: str
    deployment_group: str

    @classmethod
    def of(cls, *, stack: str, service: str) -> Target:
        return cls(
            function_name=naming.function_name(stack=stack, service=service),
            alias=naming.ALIAS_NAME,
            application=naming.codedeploy_application(stack=stack, service=service),
            deployment_group=naming.deployment_group(stack=stack, service=service),
        )


@dataclass(frozen=True)
class Outcome:
    deployment_id: str
    status: str
    detail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


def appspec(*, function_name: str, alias: str, current_version: str, target_version: str) -> str:
    """The AppSpec that shifts ``alias`` from one published version to another."""
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    "service": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": function_name,
                            "Alias": alias,
                            "CurrentVersion": current_version,
                            "TargetVersion": target_version,
                        },
                    }
                }
            ],
        }
    )


def _alias_version(lambda_client: Any, target: Target) -> str:
    alias = lambda_client.get_alias(FunctionName=target.function_name, Name=target.alias)
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}
    if weights:
        raise RolloutError(
            f"{target.function_name}:{target.alias} is split {weights}; a deployment is in "
            "progress (see `status`, or `rollback` to stop it)"
        )
    return str(alias["FunctionVersion"])


def _publish(lambda_client: Any, target: Target) -> str:
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=target.function_name)
    version = str(lambda_client.publish_version(FunctionName=target.function_name)["Version"])
    lambda_client.get_waiter("published_version_active").wait(
        FunctionName=target.function_name, Qualifier=version
    )
    return version


def _start(
    codedeploy: Any,
    target: Target,
    *,
    current: str,
    wanted: str,
    description: str,
    config: str | None = None,
) -> str:
    spec = appspec(
        function_name=target.function_name,
        alias=target.alias,
        current_version=current,
        target_version=wanted,
    )
    request: dict[str, Any] = {
        "applicationName": target.application,
        "deploymentGroupName": target.deployment_group,
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": spec}},
        "description": description,
    }
    if config:
        request["deploymentConfigName"] = config
    return str(codedeploy.create_deployment(**request)["deploymentId"])


def watch(
    codedeploy: Any,
    deployment_id: str,
    *,
    out: TextIO,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Report status changes until the deployment ends; follow an automatic rollback."""
    last = ""
    while True:
        info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        state = info["status"]
        if state != last:
            print(f"{deployment_id}: {state}", file=out, flush=True)
            last = state
        if state not in ACTIVE_STATUSES:
            error = info.get("errorInformation", {}).get("message", "")
            rollback_id = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
            detail = error + (f" (rolled back by {rollback_id})" if rollback_id else "")
            return Outcome(deployment_id=deployment_id, status=state, detail=detail)
        sleep(poll_seconds)


def deploy(
    lambda_client: Any,
    codedeploy: Any,
    target: Target,
    *,
    out: TextIO,
    version: str | None = None,
    wait: bool = True,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome | None:
    """Canary the alias to ``version`` (default: publish the function's current state)."""
    current = _alias_version(lambda_client, target)
    wanted = version or _publish(lambda_client, target)
    if wanted == current:
        print(f"{target.function_name}:{target.alias} already serves version {current}", file=out)
        return None
    deployment_id = _start(
        codedeploy,
        target,
        current=current,
        wanted=wanted,
        description=f"{target.alias}: {current} -> {wanted}",
    )
    print(
        f"{target.function_name}:{target.alias} {current} -> {wanted}: {deployment_id}",
        file=out,
        flush=True,
    )
    if not wait:
        return Outcome(deployment_id=deployment_id, status="Created")
    return watch(codedeploy, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep)


def _deployments(codedeploy: Any, target: Target, statuses: Sequence[str]) -> list[dict[str, Any]]:
    ids = codedeploy.list_deployments(
        applicationName=target.application,
        deploymentGroupName=target.deployment_group,
        includeOnlyStatuses=list(statuses),
    ).get("deployments", [])
    infos = [codedeploy.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids[:10]]
    return sorted(infos, key=lambda info: info["createTime"], reverse=True)


def _previous_version(codedeploy: Any, target: Target) -> str:
    for info in _deployments(codedeploy, target, ["Succeeded"]):
        content = info.get("revision", {}).get("appSpecContent", {}).get("content")
        if content:
            props = json.loads(content)["Resources"][0]["service"]["Properties"]
            return str(props["CurrentVersion"])
    raise RolloutError("no earlier successful deployment found; pass --to-version")


def rollback(
    lambda_client: Any,
    codedeploy: Any,
    target: Target,
    *,
    out: TextIO,
    to_version: str | None = None,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Stop a running deployment (CodeDeploy restores the alias), or move the alias back."""
    active = _deployments(codedeploy, target, ACTIVE_STATUSES)
    if active:
        deployment_id = active[0]["deploymentId"]
        print(f"stopping {deployment_id} with automatic rollback", file=out, flush=True)
        codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        return watch(codedeploy, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep)
    current = _alias_version(lambda_client, target)
    wanted = to_version or _previous_version(codedeploy, target)
    if wanted == current:
        raise RolloutError(f"alias already serves version {current}")
    deployment_id = _start(
        codedeploy,
        target,
        current=current,
        wanted=wanted,
        description=f"rollback {target.alias}: {current} -> {wanted}",
        config=_IMMEDIATE,
    )
    print(f"rolling {target.alias} back {current} -> {wanted}: {deployment_id}", file=out)
    return watch(codedeploy, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep)


def status(lambda_client: Any, codedeploy: Any, target: Target, *, out: TextIO) -> None:
    alias = lambda_client.get_alias(FunctionName=target.function_name, Name=target.alias)
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}
    print(
        f"{target.function_name}:{target.alias} -> version {alias['FunctionVersion']}"
        + (f" (canary {weights})" if weights else ""),
        file=out,
    )
    for info in _deployments(
        codedeploy, target, [*ACTIVE_STATUSES, "Succeeded", "Failed", "Stopped"]
    )[:5]:
        print(
            f"  {info['deploymentId']} {info['status']:<10} {info['createTime']} "
            f"{info.get('description', '')}",
            file=out,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m docpipe.infra.rollout", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("deploy", "status", "rollback"):
        sub = commands.add_parser(name)
        sub.add_argument("--stack", required=True, help="Pulumi stack name, e.g. dev")
        sub.add_argument("--service", required=True, choices=SERVICE_NAMES)
        sub.add_argument("--region", help="AWS region (default: from the AWS config)")
        sub.add_argument("--poll-seconds", type=float, default=15.0)
    commands.choices["deploy"].add_argument(
        "--version", help="deploy this published version instead of publishing one"
    )
    commands.choices["deploy"].add_argument("--no-wait", action="store_true")
    commands.choices["rollback"].add_argument(
        "--to-version", help="version to restore (default: the one before the last deployment)"
    )
    return parser


def main(argv: Sequence[str] | None = None, *, clients: tuple[Any, Any] | None = None) -> int:
    args = _parser().parse_args(argv)
    if clients is None:
        import boto3  # noqa: PLC0415 - only the real CLI needs AWS credentials

        session = boto3.Session(region_name=args.region)
        clients = (session.client("lambda"), session.client("codedeploy"))
    lambda_client, codedeploy = clients
    target = Target.of(stack=args.stack, service=args.service)
    out = sys.stdout
    try:
        if args.command == "status":
            status(lambda_client, codedeploy, target, out=out)
            return 0
        if args.command == "deploy":
            outcome = deploy(
                lambda_client,
                codedeploy,
                target,
                out=out,
                version=args.version,
                wait=not args.no_wait,
                poll_seconds=args.poll_seconds,
            )
        else:
            outcome = rollback(
                lambda_client,
                codedeploy,
                target,
                out=out,
                to_version=args.to_version,
                poll_seconds=args.poll_seconds,
            )
    except RolloutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if outcome is None or outcome.succeeded or outcome.status == "Created":
        return 0
    print(f"{outcome.deployment_id} {outcome.status}: {outcome.detail}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
