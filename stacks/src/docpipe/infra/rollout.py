"""Roll out, watch and roll back one service's Lambda alias through CodeDeploy.

    uv run python -m docpipe.infra.rollout deploy   --stack dev --service query --image sha256:…
    uv run python -m docpipe.infra.rollout status   --stack dev --service query
    uv run python -m docpipe.infra.rollout rollback --stack dev --service query [--to-version N]

Once `pulumi up` has created a service, this command owns its code, so deploying one
service can never revert another. ``deploy --image`` points the function at a new image
(UpdateFunctionCode), publishes it as a version, and shifts the ``live`` alias to it with
the service's CodeDeploy canary; CodeDeploy rolls back by itself when one of the
service's alarms fires. Before any traffic moves it points the canary alarms at the new
version (:mod:`docpipe.infra.canary_alarms`) and, for the processor, runs the schema
migrations the new image carries through the migration function, updated to the same
image: a failed migration stops the rollout there. Without ``--image``, ``deploy``
publishes the function's current state (after a configuration change by `pulumi up`).

``rollback`` stops a running deployment (CodeDeploy restores the alias), or moves the
alias back, all at once, to the release before the current one: read from the release
history kept on the alias (:mod:`docpipe.infra.release_history`), checked against the
function's published versions. Rolling back twice goes two releases back, never forward
to the version the first rollback left.

Exit status: 0 succeeded (or nothing to do), 1 failed/stopped/rolled back, 2 refused.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from docpipe.infra import naming
from docpipe.infra.canary_alarms import point_alarms_at_version
from docpipe.infra.exceptions import RolloutError
from docpipe.infra.release_history import ReleaseHistory
from docpipe.infra.settings import SERVICE_NAMES

__all__ = [
    "ACTIVE_STATUSES",
    "Clients",
    "Outcome",
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
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: BatchGetDeployments takes at most 25 ids.
_BATCH = 25


@dataclass(frozen=True)
class Clients:
    """boto3 clients of the account and region the stack runs in."""

    lambda_: Any
    codedeploy: Any
    cloudwatch: Any


@dataclass(frozen=True)
class Target:
    function_name: str
    alias: str
    application: str
    deployment_group: str
    #: The migration function, for the service whose image applies the schema.
    migrate_function: str | None = None

    @classmethod
    def of(cls, *, stack: str, service: str) -> Target:
        return cls(
            function_name=naming.function_name(stack=stack, service=service),
            alias=naming.ALIAS_NAME,
            application=naming.codedeploy_application(stack=stack, service=service),
            deployment_group=naming.deployment_group(stack=stack, service=service),
            migrate_function=naming.function_name(stack=stack, service="migrate")
            if service == "processor"
            else None,
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


# --- the alias and its release history ----------------------------------------------


def _serving(clients: Clients, target: Target) -> tuple[str, ReleaseHistory]:
    """The version the alias serves and its reconciled history; refuses a split alias."""
    alias = clients.lambda_.get_alias(FunctionName=target.function_name, Name=target.alias)
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}
    if weights:
        raise RolloutError(
            f"{target.function_name}:{target.alias} is split {weights}; a deployment is in "
            "progress (see `status`, or `rollback` to stop it)"
        )
    serving = str(alias["FunctionVersion"])
    history = ReleaseHistory.parse(alias.get("Description"))
    history.reconcile(serving)
    return serving, history


def _save(clients: Clients, target: Target, history: ReleaseHistory) -> None:
    clients.lambda_.update_alias(
        FunctionName=target.function_name, Name=target.alias, Description=history.render()
    )


def _record_outcome(clients: Clients, target: Target) -> None:
    """After a deployment ends: the alias says whether its version went live."""
    alias = clients.lambda_.get_alias(FunctionName=target.function_name, Name=target.alias)
    if alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"):
        return  # still shifting (e.g. --no-wait): the next command reconciles
    history = ReleaseHistory.parse(alias.get("Description"))
    history.reconcile(str(alias["FunctionVersion"]))
    _save(clients, target, history)


def _versions(clients: Clients, target: Target) -> dict[str, dict[str, Any]]:
    """Every published version of the function (all pages), by version number."""
    pages = clients.lambda_.get_paginator("list_versions_by_function").paginate(
        FunctionName=target.function_name
    )
    return {
        str(v["Version"]): v
        for page in pages
        for v in page.get("Versions", [])
        if v["Version"] != "$LATEST"
    }


# --- code, versions, migrations ---------------------------------------------------


def _image_uri(clients: Clients, target: Target, image: str) -> str:
    """A full image URI: ``repo@sha256:…`` as given, or a digest in the function's repo."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        if not _DIGEST.match(digest) or not repository:
            raise RolloutError(f"--image {image!r}: expected <repository>@sha256:<64 hex>")
        return image
    if not _DIGEST.match(image):
        raise RolloutError(f"--image {image!r}: expected sha256:<64 hex> or a full image URI")
    current = clients.lambda_.get_function(FunctionName=target.function_name)["Code"]["ImageUri"]
    repository = current.split("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:  # created from a tag: drop it
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}@{image}"


def _update_code(clients: Clients, function_name: str, image_uri: str) -> str | None:
    """Point ``function_name`` at ``image_uri``; the revision id once the update is done
    (Lambda always returns one; moto does not)."""
    waiter = clients.lambda_.get_waiter("function_updated_v2")
    waiter.wait(FunctionName=function_name)
    clients.lambda_.update_function_code(FunctionName=function_name, ImageUri=image_uri)
    waiter.wait(FunctionName=function_name)
    config = clients.lambda_.get_function_configuration(FunctionName=function_name)
    revision: str | None = config.get("RevisionId")
    return revision


def _publish(clients: Clients, target: Target, *, description: str, revision: str | None) -> str:
    """Publish the function's current code and configuration (Lambda returns the existing
    version when nothing changed since the last one)."""
    lam = clients.lambda_
    lam.get_waiter("function_updated_v2").wait(FunctionName=target.function_name)
    request: dict[str, Any] = {"FunctionName": target.function_name, "Description": description}
    if revision:
        request["RevisionId"] = revision  # exactly the code just deployed, or fail
    version = str(lam.publish_version(**request)["Version"])
    lam.get_waiter("published_version_active").wait(
        FunctionName=target.function_name, Qualifier=version
    )
    return version


def _migrate(clients: Clients, target: Target, image_uri: str, out: TextIO) -> None:
    """Apply the schema the new processor image carries, before it takes any traffic."""
    assert target.migrate_function is not None
    print(f"migrations: {target.migrate_function} -> {image_uri}", file=out, flush=True)
    _update_code(clients, target.migrate_function, image_uri)
    response = clients.lambda_.invoke(
        FunctionName=target.migrate_function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"action": "migrate"}).encode(),
    )
    payload = response["Payload"].read().decode("utf-8", "replace")
    if response.get("FunctionError"):
        raise RolloutError(f"migrations failed; no traffic was moved: {payload[:2000]}")
    result = json.loads(payload or "{}")
    print(f"migrations applied: {result.get('applied') or 'none pending'}", file=out, flush=True)


# --- CodeDeploy -----------------------------------------------------------------------


def _start(
    clients: Clients,
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
    return str(clients.codedeploy.create_deployment(**request)["deploymentId"])


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
            error = (info.get("errorInformation") or {}).get("message", "")
            rollback_id = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
            detail = error + (f" (rolled back by {rollback_id})" if rollback_id else "")
            return Outcome(deployment_id=deployment_id, status=state, detail=detail)
        sleep(poll_seconds)


def _deployment_ids(codedeploy: Any, target: Target, statuses: Sequence[str]) -> Iterator[str]:
    pages = codedeploy.get_paginator("list_deployments").paginate(
        applicationName=target.application,
        deploymentGroupName=target.deployment_group,
        includeOnlyStatuses=list(statuses),
    )
    for page in pages:
        yield from page.get("deployments", [])


def _deployments(codedeploy: Any, target: Target, statuses: Sequence[str]) -> list[dict[str, Any]]:
    """The group's deployments in ``statuses``, newest first (every page)."""
    ids = list(_deployment_ids(codedeploy, target, statuses))
    infos: list[dict[str, Any]] = []
    for start in range(0, len(ids), _BATCH):
        batch = codedeploy.batch_get_deployments(deploymentIds=ids[start : start + _BATCH])
        infos += batch.get("deploymentsInfo", [])
    return sorted(infos, key=lambda info: info["createTime"], reverse=True)


def _finish(
    clients: Clients,
    target: Target,
    deployment_id: str,
    *,
    out: TextIO,
    poll_seconds: float,
    sleep: Callable[[float], None],
) -> Outcome:
    outcome = watch(
        clients.codedeploy, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep
    )
    _record_outcome(clients, target)
    return outcome


# --- commands -----------------------------------------------------------------------


def deploy(
    clients: Clients,
    target: Target,
    *,
    out: TextIO,
    image: str | None = None,
    version: str | None = None,
    wait: bool = True,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome | None:
    """Canary the alias to ``image`` (or ``version``, or the function's current state)."""
    if image and version:
        raise RolloutError("give --image or --version, not both")
    if _deployments(clients.codedeploy, target, ACTIVE_STATUSES):
        raise RolloutError("a deployment is in progress (see `status`, or `rollback` to stop it)")
    current, history = _serving(clients, target)
    _save(clients, target, history)
    image_uri = _image_uri(clients, target, image) if image else None
    if version is None:
        revision = _update_code(clients, target.function_name, image_uri) if image_uri else None
        label = image_uri.rsplit("@", 1)[-1] if image_uri else "configuration"
        version = _publish(
            clients,
            target,
            description=f"docpipe rollout: {label} (live was {current})",
            revision=revision,
        )
    if version == current:
        print(f"{target.function_name}:{target.alias} already serves version {current}", file=out)
        return None
    if target.migrate_function is not None:
        code = clients.lambda_.get_function(FunctionName=target.function_name, Qualifier=version)
        _migrate(clients, target, image_uri or code["Code"]["ImageUri"], out)
    pointed = point_alarms_at_version(
        clients.cloudwatch, function_name=target.function_name, version=version
    )
    print(f"canary alarms watch version {version}: {', '.join(pointed)}", file=out, flush=True)
    history.started(version)
    _save(clients, target, history)
    deployment_id = _start(
        clients,
        target,
        current=current,
        wanted=version,
        description=f"live: {current} -> {version}",
    )
    print(
        f"{target.function_name}:{target.alias} {current} -> {version}: {deployment_id}",
        file=out,
        flush=True,
    )
    if not wait:
        return Outcome(deployment_id=deployment_id, status="Created")
    return _finish(clients, target, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep)


def rollback(
    clients: Clients,
    target: Target,
    *,
    out: TextIO,
    to_version: str | None = None,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Stop a running deployment (CodeDeploy restores the alias), or move the alias back
    to the release before the current one."""
    active = _deployments(clients.codedeploy, target, ACTIVE_STATUSES)
    if active:
        deployment_id = active[0]["deploymentId"]
        print(f"stopping {deployment_id} with automatic rollback", file=out, flush=True)
        clients.codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        return _finish(
            clients, target, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep
        )
    current, history = _serving(clients, target)
    wanted = to_version or history.previous_good(current)
    if wanted is None:
        raise RolloutError(
            f"no release before version {current} is recorded; pass --to-version "
            f"(published versions: {', '.join(_versions(clients, target)) or 'none'})"
        )
    if wanted == current:
        raise RolloutError(f"alias already serves version {current}")
    if wanted not in _versions(clients, target):
        raise RolloutError(f"version {wanted} is not a published version of the function")
    point_alarms_at_version(clients.cloudwatch, function_name=target.function_name, version=wanted)
    history.rolled_back(current)
    history.started(wanted)
    _save(clients, target, history)
    deployment_id = _start(
        clients,
        target,
        current=current,
        wanted=wanted,
        description=f"rollback {target.alias}: {current} -> {wanted}",
        config=_IMMEDIATE,
    )
    print(f"rolling {target.alias} back {current} -> {wanted}: {deployment_id}", file=out)
    return _finish(clients, target, deployment_id, out=out, poll_seconds=poll_seconds, sleep=sleep)


def status(clients: Clients, target: Target, *, out: TextIO) -> None:
    alias = clients.lambda_.get_alias(FunctionName=target.function_name, Name=target.alias)
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}
    print(
        f"{target.function_name}:{target.alias} -> version {alias['FunctionVersion']}"
        + (f" (canary {weights})" if weights else ""),
        file=out,
    )
    history = ReleaseHistory.parse(alias.get("Description"))
    versions = _versions(clients, target)
    print(f"  releases: {', '.join(history.live) or 'none recorded'}", file=out)
    if history.bad:
        print(f"  rolled back: {', '.join(history.bad)}", file=out)
    if history.pending:
        print(f"  deploying: {history.pending}", file=out)
    for number in history.live[-3:]:
        info = versions.get(number, {})
        print(f"  version {number}: {info.get('Description') or '?'}", file=out)
    for info in _deployments(
        clients.codedeploy, target, [*ACTIVE_STATUSES, "Succeeded", "Failed", "Stopped"]
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
    deploy_cmd = commands.choices["deploy"]
    deploy_cmd.add_argument(
        "--image", help="image to deploy: sha256:<digest> in the service's repository, or a URI"
    )
    deploy_cmd.add_argument("--version", help="deploy this published version instead")
    deploy_cmd.add_argument("--no-wait", action="store_true")
    commands.choices["rollback"].add_argument(
        "--to-version", help="version to restore (default: the release before the current one)"
    )
    return parser


def _clients(region: str | None) -> Clients:
    import boto3  # noqa: PLC0415 - only the real CLI needs AWS credentials

    session = boto3.Session(region_name=region)
    return Clients(
        lambda_=session.client("lambda"),
        codedeploy=session.client("codedeploy"),
        cloudwatch=session.client("cloudwatch"),
    )


def _run(args: argparse.Namespace, clients: Clients, out: TextIO) -> Outcome | None:
    target = Target.of(stack=args.stack, service=args.service)
    if args.command == "status":
        status(clients, target, out=out)
        return None
    if args.command == "deploy":
        return deploy(
            clients,
            target,
            out=out,
            image=args.image,
            version=args.version,
            wait=not args.no_wait,
            poll_seconds=args.poll_seconds,
        )
    return rollback(
        clients, target, out=out, to_version=args.to_version, poll_seconds=args.poll_seconds
    )


def main(argv: Sequence[str] | None = None, *, clients: Clients | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        outcome = _run(args, clients or _clients(args.region), sys.stdout)
    except RolloutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if outcome is None or outcome.succeeded or outcome.status == "Created":
        return 0
    print(f"{outcome.deployment_id} {outcome.status}: {outcome.detail}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
