"""The rollout command against moto's real Lambda, CodeDeploy and CloudWatch APIs.

Each test sets up an account the way `pulumi up` leaves it: the functions, the ``live``
alias, the CodeDeploy application and deployment group and the alarms are created from the
resources the real Pulumi program declares (recorded under Pulumi's mocks, renamed to a
stack of the test's own). moto records deployments but does not shift traffic, so
``docpipe.testkit.codedeploy`` does CodeDeploy's part through the same APIs. Two things
moto cannot answer are said where they are used: invoking a container-image function
(it needs Docker) and StopDeployment.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.stub import Stubber

from docpipe.infra import rollout
from docpipe.infra.exceptions import RolloutError
from docpipe.infra.release_history import ReleaseHistory
from docpipe.testkit.codedeploy import CodeDeployEngine

REGION = "ap-northeast-1"
DIGEST = {name: "sha256:" + name * 64 for name in "bcdef"}


def _renamed(value: Any, stack: str) -> Any:
    return json.loads(json.dumps(value).replace("docpipe-dev-", f"docpipe-{stack}-"))


def _alarm_request(inputs: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm parameters for a MetricAlarm as the Pulumi program declares it."""

    def dims(mapping: dict[str, str]) -> list[dict[str, str]]:
        return [{"Name": k, "Value": str(v)} for k, v in mapping.items()]

    request: dict[str, Any] = {
        "AlarmName": inputs["name"],
        "AlarmDescription": inputs.get("alarmDescription", ""),
        "EvaluationPeriods": int(inputs["evaluationPeriods"]),  # mocks record floats
        "Threshold": float(inputs["threshold"]),
        "ComparisonOperator": inputs["comparisonOperator"],
        "TreatMissingData": inputs["treatMissingData"],
        "AlarmActions": inputs["alarmActions"],
        "OKActions": inputs["okActions"],
    }
    if "metricQueries" in inputs:
        request["Metrics"] = [
            {
                "Id": q["id"],
                "ReturnData": q["returnData"],
                **(
                    {"Expression": q["expression"], "Label": q["label"]}
                    if "expression" in q
                    else {}
                ),
                **(
                    {
                        "MetricStat": {
                            "Metric": {
                                "Namespace": q["metric"]["namespace"],
                                "MetricName": q["metric"]["metricName"],
                                "Dimensions": dims(q["metric"]["dimensions"]),
                            },
                            "Period": int(q["metric"]["period"]),
                            "Stat": q["metric"]["stat"],
                        }
                    }
                    if "metric" in q
                    else {}
                ),
            }
            for q in inputs["metricQueries"]
        ]
    else:
        request |= {
            "Namespace": inputs["namespace"],
            "MetricName": inputs["metricName"],
            "Dimensions": dims(inputs["dimensions"]),
            "Period": int(inputs["period"]),
        }
        if inputs.get("extendedStatistic"):
            request["ExtendedStatistic"] = inputs["extendedStatistic"]
        else:
            request["Statistic"] = inputs["statistic"]
    return request


@dataclass
class Account:
    """moto's account with one service deployed as `pulumi up` leaves it."""

    stack: str
    service: str
    clients: rollout.Clients
    engine: CodeDeployEngine
    invocations: list[dict[str, Any]] = field(default_factory=list)
    migration_error: str | None = None

    @property
    def target(self) -> rollout.Target:
        return rollout.Target.of(stack=self.stack, service=self.service)

    def alias(self) -> dict[str, Any]:
        return dict(
            self.clients.lambda_.get_alias(FunctionName=self.target.function_name, Name="live")
        )

    def history(self) -> ReleaseHistory:
        return ReleaseHistory.parse(self.alias().get("Description"))

    def deploy(self, **kwargs: Any) -> rollout.Outcome | None:
        return rollout.deploy(
            self.clients,
            self.target,
            out=io.StringIO(),
            poll_seconds=0,
            sleep=self.engine.step,
            **kwargs,
        )

    def rollback(self, **kwargs: Any) -> rollout.Outcome:
        return rollout.rollback(
            self.clients,
            self.target,
            out=io.StringIO(),
            poll_seconds=0,
            sleep=self.engine.step,
            **kwargs,
        )

    def canary_alarms(self) -> dict[str, set[str]]:
        """Each canary alarm of the service → the FunctionVersion values it reads."""
        alarms = self.clients.cloudwatch.describe_alarms(
            AlarmNamePrefix=f"{self.target.function_name}-canary-"
        )["MetricAlarms"]
        return {
            a["AlarmName"]: {
                d["Value"]
                for q in a["Metrics"]
                for d in q.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
                if d["Name"] == "FunctionVersion"
            }
            for a in alarms
        }

    def deployments(self) -> list[dict[str, Any]]:
        cd = self.clients.codedeploy
        ids = cd.list_deployments(
            applicationName=self.target.application,
            deploymentGroupName=self.target.deployment_group,
        )["deployments"]
        infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
        return sorted(infos, key=lambda i: i["createTime"])


def _create_functions(account: Account, inventory: Any, role: str) -> None:
    lam = account.clients.lambda_
    wanted = {f"{account.service}-function", "migrations-function"}
    for fn in inventory.of_type("aws:lambda/function:Function"):
        if fn.name not in wanted or (
            fn.name == "migrations-function" and account.service != "processor"
        ):
            continue
        inputs = _renamed(fn.inputs, account.stack)
        lam.create_function(
            FunctionName=inputs["name"],
            PackageType="Image",
            Code={"ImageUri": inputs["imageUri"]},
            Role=role,
            Publish=inputs.get("publish", False),
        )
    alias = next(
        a
        for a in inventory.of_type("aws:lambda/alias:Alias")
        if a.name == f"{account.service}-alias"
    )
    inputs = _renamed(alias.inputs, account.stack)
    lam.create_alias(FunctionName=inputs["functionName"], Name=inputs["name"], FunctionVersion="1")


def _create_deployment_group(account: Account, inventory: Any) -> None:
    cd, cw = account.clients.codedeploy, account.clients.cloudwatch
    prefix = f"docpipe-dev-{account.service}-"
    for alarm in inventory.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        if str(alarm.inputs.get("name", "")).startswith(prefix):
            cw.put_metric_alarm(**_alarm_request(_renamed(alarm.inputs, account.stack)))
    group = next(
        g
        for g in inventory.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")
        if g.name == f"{account.service}-deployment-group"
    )
    inputs = _renamed(group.inputs, account.stack)
    cd.create_application(applicationName=inputs["appName"], computePlatform="Lambda")
    cd.create_deployment_group(
        applicationName=inputs["appName"],
        deploymentGroupName=inputs["deploymentGroupName"],
        deploymentConfigName=inputs["deploymentConfigName"],
        serviceRoleArn=inputs["serviceRoleArn"],
        alarmConfiguration={
            "enabled": inputs["alarmConfiguration"]["enabled"],
            "alarms": [{"name": n} for n in inputs["alarmConfiguration"]["alarms"]],
        },
        autoRollbackConfiguration=inputs["autoRollbackConfiguration"],
        deploymentStyle={
            "deploymentType": inputs["deploymentStyle"]["deploymentType"],
            "deploymentOption": inputs["deploymentStyle"]["deploymentOption"],
        },
    )


def _stand_in_for_container_invoke(account: Account) -> None:
    """moto cannot invoke a container-image function (it needs Docker). Answer Invoke as
    Lambda documents it (StatusCode, Payload, FunctionError on a function error:
    https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html) and record the request."""

    def invoke(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        account.invocations.append(
            {"function": params["url_path"].split("/")[3], "payload": json.loads(params["body"])}
        )
        if account.migration_error:
            body = json.dumps(
                {"errorMessage": account.migration_error, "errorType": "MigrationError"}
            )
            extra = {"FunctionError": "Unhandled"}
        else:
            body, extra = json.dumps({"applied": ["0004_next"]}), {}
        data = body.encode()
        http = AWSResponse(params["url_path"], 200, {}, None)
        return http, {
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
            **extra,
        }

    account.clients.lambda_.meta.events.register("before-call.lambda.Invoke", invoke)


@pytest.fixture
def deployed(moto_endpoint: str, inventory: Any) -> Callable[[str], Account]:
    """An account with ``service`` deployed under a stack name of this test's own."""

    def make(service: str) -> Account:
        kwargs = {"endpoint_url": moto_endpoint, "region_name": REGION}
        clients = rollout.Clients(
            lambda_=boto3.client("lambda", **kwargs),
            codedeploy=boto3.client("codedeploy", **kwargs),
            cloudwatch=boto3.client("cloudwatch", **kwargs),
        )
        engine = CodeDeployEngine(
            lambda_client=clients.lambda_, cloudwatch=clients.cloudwatch, region=REGION
        )
        account = Account(f"t{uuid.uuid4().hex[:8]}", service, clients, engine)
        role = boto3.client("iam", **kwargs).create_role(
            RoleName=f"{account.stack}-{service}",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        _create_functions(account, inventory, role)
        _create_deployment_group(account, inventory)
        _stand_in_for_container_invoke(account)
        return account

    return make


def test_deploy_canaries_a_new_image_and_records_the_release(deployed: Any) -> None:
    account = deployed("query")
    fn = account.target.function_name
    assert account.canary_alarms() == {f"{fn}-canary-http-5xx": {"1"}}  # as Pulumi created it

    outcome = account.deploy(image=DIGEST["b"])

    assert outcome is not None and outcome.succeeded
    lam = account.clients.lambda_
    assert lam.get_function(FunctionName=fn)["Code"]["ImageUri"].endswith("@" + DIGEST["b"])
    versions = {v["Version"]: v for v in lam.list_versions_by_function(FunctionName=fn)["Versions"]}
    assert DIGEST["b"] in versions["2"]["Description"]
    assert account.canary_alarms() == {f"{fn}-canary-http-5xx": {"2"}}
    (deployment,) = account.deployments()
    spec = json.loads(deployment["revision"]["appSpecContent"]["content"])
    assert spec["Resources"][0]["service"]["Properties"] == {
        "Name": fn,
        "Alias": "live",
        "CurrentVersion": "1",
        "TargetVersion": "2",
    }
    assert deployment["deploymentConfigName"].endswith("-canary-10pct-5min")  # the group's
    assert account.alias()["FunctionVersion"] == "2"
    assert account.history() == ReleaseHistory(live=["1", "2"], bad=[], pending=None)


def test_an_alarm_during_the_canary_rolls_back_and_is_remembered(deployed: Any) -> None:
    account = deployed("query")
    assert account.deploy(image=DIGEST["b"]).succeeded  # type: ignore[union-attr]
    canary = f"{account.target.function_name}-canary-http-5xx"
    steps = 0

    def canary_traffic_fails(seconds: float) -> None:
        nonlocal steps
        account.engine.step(seconds)
        steps += 1
        if steps == 1:  # the new version took its share of traffic and answered 5xx
            account.clients.cloudwatch.set_alarm_state(
                AlarmName=canary, StateValue="ALARM", StateReason="5xx % of version 3 >= 5"
            )

    outcome = rollout.deploy(
        account.clients,
        account.target,
        out=io.StringIO(),
        image=DIGEST["c"],
        poll_seconds=0,
        sleep=canary_traffic_fails,
    )

    assert outcome is not None and outcome.status == "Stopped"
    assert account.alias()["FunctionVersion"] == "2"
    assert account.history() == ReleaseHistory(live=["1", "2"], bad=["3"], pending=None)


def test_rollback_goes_to_the_release_before_and_twice_goes_two_back(deployed: Any) -> None:
    """Rolling back after a rollback must not "return" to the version just rolled back
    (what a rollback that trusts the last successful deployment's AppSpec would do)."""
    account = deployed("upload")
    for name in "bcd":
        assert account.deploy(image=DIGEST[name]).succeeded  # type: ignore[union-attr]
    assert account.alias()["FunctionVersion"] == "4"

    assert account.rollback().succeeded
    assert account.alias()["FunctionVersion"] == "3"
    assert account.rollback().succeeded
    assert account.alias()["FunctionVersion"] == "2"
    assert account.history() == ReleaseHistory(live=["1", "2"], bad=["4", "3"], pending=None)
    assert account.canary_alarms() == {f"{account.target.function_name}-canary-http-5xx": {"2"}}
    backs = [d for d in account.deployments() if d["description"].startswith("rollback")]
    assert [d["deploymentConfigName"] for d in backs] == ["CodeDeployDefault.LambdaAllAtOnce"] * 2

    assert account.rollback().succeeded
    with pytest.raises(RolloutError, match="no release before version 1"):
        account.rollback()
    assert account.rollback(to_version="4").succeeded  # explicit: allowed, and recorded
    assert account.history().live[-1] == "4"


def test_processor_applies_its_image_migrations_before_any_traffic_moves(deployed: Any) -> None:
    account = deployed("processor")
    outcome = account.deploy(image=DIGEST["b"])
    assert outcome is not None and outcome.succeeded
    migrate = account.target.migrate_function
    assert migrate is not None
    image = account.clients.lambda_.get_function(FunctionName=migrate)["Code"]["ImageUri"]
    assert image.endswith("@" + DIGEST["b"])  # the migrations come from the new image
    assert account.invocations == [{"function": migrate, "payload": {"action": "migrate"}}]
    fn = account.target.function_name
    expected = {f"{fn}-canary-failed-documents": {"2"}, f"{fn}-canary-returned-messages": {"2"}}
    assert account.canary_alarms() == expected

    account.migration_error = "relation documents already has column x"
    with pytest.raises(RolloutError, match="migrations failed; no traffic was moved"):
        account.deploy(image=DIGEST["c"])
    assert account.alias()["FunctionVersion"] == "2"
    assert len(account.deployments()) == 1
    assert account.canary_alarms() == expected


def test_cli_deploys_without_waiting_and_the_next_command_records_the_outcome(
    deployed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    account = deployed("query")
    base = ["--stack", account.stack, "--service", "query", "--poll-seconds", "0"]
    assert (
        rollout.main(
            ["deploy", *base, "--image", DIGEST["b"], "--no-wait"], clients=account.clients
        )
        == 0
    )
    assert account.history().pending == "2"
    assert rollout.main(["deploy", *base, "--image", DIGEST["c"]], clients=account.clients) == 2
    assert "in progress" in capsys.readouterr().err
    account.engine.step()
    account.engine.step()
    assert rollout.main(["status", *base], clients=account.clients) == 0
    printed = capsys.readouterr().out
    assert f"{account.target.function_name}:live -> version 2" in printed
    assert rollout.main(["deploy", *base, "--image", "latest"], clients=account.clients) == 2
    assert "sha256" in capsys.readouterr().err
    # nothing changed since version 2: publishing returns it, and there is nothing to do
    assert rollout.main(["deploy", *base], clients=account.clients) == 0
    assert "already serves version 2" in capsys.readouterr().out
    assert account.history() == ReleaseHistory(live=["1", "2"], bad=[], pending=None)


# --- what moto does not implement, against botocore's Stubber --------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[rollout.Clients, Stubber, Stubber]]:
    kwargs = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    clients = rollout.Clients(
        lambda_=boto3.client("lambda", **kwargs),
        codedeploy=boto3.client("codedeploy", **kwargs),
        cloudwatch=boto3.client("cloudwatch", **kwargs),
    )
    with Stubber(clients.lambda_) as lam, Stubber(clients.codedeploy) as cd:
        yield clients, lam, cd
        lam.assert_no_pending_responses()
        cd.assert_no_pending_responses()


def test_rollback_stops_a_running_deployment(stubbed: Any) -> None:
    """moto has no StopDeployment: requests are checked against the API model instead."""
    clients, lam, cd = stubbed
    target = rollout.Target.of(stack="dev", service="query")
    cd.add_response("list_deployments", {"deployments": ["d-RUN"]})
    info = {
        "deploymentId": "d-RUN",
        "status": "InProgress",
        "createTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    cd.add_response(
        "batch_get_deployments", {"deploymentsInfo": [info]}, {"deploymentIds": ["d-RUN"]}
    )
    cd.add_response(
        "stop_deployment",
        {"status": "Pending"},
        {"deploymentId": "d-RUN", "autoRollbackEnabled": True},
    )
    stopped = {**info, "status": "Stopped", "rollbackInfo": {"rollbackDeploymentId": "d-RB"}}
    cd.add_response("get_deployment", {"deploymentInfo": stopped}, {"deploymentId": "d-RUN"})
    lam.add_response(
        "get_alias",
        {"Name": "live", "FunctionVersion": "3", "Description": ""},
        {"FunctionName": "docpipe-dev-query", "Name": "live"},
    )
    lam.add_response("update_alias", {"Name": "live", "FunctionVersion": "3"})
    outcome = rollout.rollback(clients, target, out=io.StringIO(), sleep=lambda _: None)
    assert outcome.status == "Stopped" and "d-RB" in outcome.detail


def test_published_versions_are_read_from_every_page(stubbed: Any) -> None:
    clients, lam, _ = stubbed
    target = rollout.Target.of(stack="dev", service="query")
    fn = {"FunctionName": "docpipe-dev-query"}
    lam.add_response(
        "list_versions_by_function",
        {"Versions": [{"Version": "$LATEST"}, {"Version": "1"}], "NextMarker": "m1"},
        fn,
    )
    lam.add_response(
        "list_versions_by_function", {"Versions": [{"Version": "2"}]}, {**fn, "Marker": "m1"}
    )
    assert list(rollout._versions(clients, target)) == ["1", "2"]


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
    migrate = next(
        r
        for r in inventory.of_type("aws:lambda/function:Function")
        if r.name == "migrations-function"
    )
    assert (
        migrate.inputs["name"]
        == rollout.Target.of(stack="dev", service="processor").migrate_function
    )
