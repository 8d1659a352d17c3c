"""The rollout command against botocore's Stubber: real boto3 clients, requests
validated against the Lambda and CodeDeploy API models, scripted responses."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from docpipe.infra import rollout

TARGET = rollout.Target.of(stack="dev", service="query")
FN = "docpipe-dev-query"


@pytest.fixture
def clients() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    kwargs = {
        "region_name": "ap-northeast-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
    }
    lam, cd = boto3.client("lambda", **kwargs), boto3.client("codedeploy", **kwargs)
    with Stubber(lam) as lam_stub, Stubber(cd) as cd_stub:
        yield lam, lam_stub, cd, cd_stub
        lam_stub.assert_no_pending_responses()
        cd_stub.assert_no_pending_responses()


def _alias(lam_stub: Stubber, version: str, weights: dict[str, float] | None = None) -> None:
    response: dict[str, Any] = {"Name": "live", "FunctionVersion": version}
    if weights:
        response["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    lam_stub.add_response("get_alias", response, {"FunctionName": FN, "Name": "live"})


def _deployment(cd_stub: Stubber, deployment_id: str, status: str, **extra: Any) -> None:
    info = {
        "deploymentId": deployment_id,
        "status": status,
        "createTime": datetime(2025, 1, 1, tzinfo=UTC),
        **extra,
    }
    cd_stub.add_response(
        "get_deployment", {"deploymentInfo": info}, {"deploymentId": deployment_id}
    )


def _publish(lam_stub: Stubber, version: str) -> None:
    lam_stub.add_response(
        "get_function", {"Configuration": {"LastUpdateStatus": "Successful"}}, {"FunctionName": FN}
    )
    lam_stub.add_response("publish_version", {"Version": version}, {"FunctionName": FN})
    lam_stub.add_response(
        "get_function_configuration",
        {"State": "Active"},
        {"FunctionName": FN, "Qualifier": version},
    )


def test_appspec_shifts_alias_between_versions() -> None:
    spec = json.loads(
        rollout.appspec(function_name=FN, alias="live", current_version="3", target_version="4")
    )
    props = spec["Resources"][0]["service"]["Properties"]
    assert props == {"Name": FN, "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"}


def test_deploy_publishes_canaries_and_reports_success(clients: Any) -> None:
    lam, lam_stub, cd, cd_stub = clients
    _alias(lam_stub, "3")
    _publish(lam_stub, "4")
    cd_stub.add_response(
        "create_deployment",
        {"deploymentId": "d-OK"},
        {
            "applicationName": "docpipe-dev-query",
            "deploymentGroupName": "docpipe-dev-query-live",
            "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": ANY}},
            "description": "live: 3 -> 4",
        },
    )
    _deployment(cd_stub, "d-OK", "InProgress")
    _deployment(cd_stub, "d-OK", "InProgress")
    _deployment(cd_stub, "d-OK", "Succeeded")
    out = io.StringIO()
    outcome = rollout.deploy(lam, cd, TARGET, out=out, sleep=lambda _: None)
    assert outcome is not None and outcome.succeeded
    assert out.getvalue().splitlines() == [
        "docpipe-dev-query:live 3 -> 4: d-OK",
        "d-OK: InProgress",
        "d-OK: Succeeded",
    ]


def test_deploy_reports_alarm_rollback_as_failure(clients: Any) -> None:
    lam, lam_stub, cd, cd_stub = clients
    _alias(lam_stub, "3")
    cd_stub.add_response("create_deployment", {"deploymentId": "d-BAD"})
    _deployment(
        cd_stub,
        "d-BAD",
        "Stopped",
        errorInformation={
            "code": "ALARM_ACTIVE",
            "message": "alarm docpipe-dev-query-errors fired",
        },
        rollbackInfo={"rollbackDeploymentId": "d-RB"},
    )
    code = rollout.main(
        ["deploy", "--stack", "dev", "--service", "query", "--version", "5", "--poll-seconds", "0"],
        clients=(lam, cd),
    )
    assert code == 1


def test_deploy_refuses_while_alias_is_split(clients: Any) -> None:
    lam, lam_stub, cd, _ = clients
    _alias(lam_stub, "3", {"4": 0.1})
    with pytest.raises(rollout.RolloutError, match="in progress"):
        rollout.deploy(lam, cd, TARGET, out=io.StringIO())


def test_deploy_is_a_no_op_when_nothing_changed(clients: Any) -> None:
    lam, lam_stub, cd, _ = clients
    _alias(lam_stub, "4")
    _publish(lam_stub, "4")
    assert rollout.deploy(lam, cd, TARGET, out=io.StringIO()) is None


def test_rollback_stops_a_running_deployment(clients: Any) -> None:
    lam, _, cd, cd_stub = clients
    cd_stub.add_response("list_deployments", {"deployments": ["d-RUN"]})
    _deployment(cd_stub, "d-RUN", "InProgress")
    cd_stub.add_response(
        "stop_deployment",
        {"status": "Pending"},
        {"deploymentId": "d-RUN", "autoRollbackEnabled": True},
    )
    _deployment(cd_stub, "d-RUN", "Stopped", rollbackInfo={"rollbackDeploymentId": "d-RB"})
    outcome = rollout.rollback(lam, cd, TARGET, out=io.StringIO(), sleep=lambda _: None)
    assert outcome.status == "Stopped" and "d-RB" in outcome.detail


def test_rollback_restores_the_version_before_the_last_deployment(clients: Any) -> None:
    lam, lam_stub, cd, cd_stub = clients
    cd_stub.add_response("list_deployments", {"deployments": []})
    _alias(lam_stub, "4")
    cd_stub.add_response("list_deployments", {"deployments": ["d-LAST"]})
    spec = rollout.appspec(function_name=FN, alias="live", current_version="3", target_version="4")
    _deployment(
        cd_stub,
        "d-LAST",
        "Succeeded",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": spec}},
    )
    cd_stub.add_response(
        "create_deployment",
        {"deploymentId": "d-BACK"},
        {
            "applicationName": "docpipe-dev-query",
            "deploymentGroupName": "docpipe-dev-query-live",
            "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": ANY}},
            "description": "rollback live: 4 -> 3",
            "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
        },
    )
    _deployment(cd_stub, "d-BACK", "Succeeded")
    outcome = rollout.rollback(lam, cd, TARGET, out=io.StringIO(), sleep=lambda _: None)
    assert outcome.succeeded


def test_names_match_the_deployed_stack(inventory: Any) -> None:
    """The CLI finds exactly the function, application and group the program creates."""
    for service in ("upload", "processor", "query"):
        target = rollout.Target.of(stack="dev", service=service)
        function = next(
            r
            for r in inventory.of_type("aws:lambda/function:Function")
            if r.name == f"{service}-function"
        )
        group = next(
            r
            for r in inventory.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")
            if r.name.startswith(service)
        )
        assert function.inputs["name"] == target.function_name
        assert group.inputs["appName"] == target.application
        assert group.inputs["deploymentGroupName"] == target.deployment_group
