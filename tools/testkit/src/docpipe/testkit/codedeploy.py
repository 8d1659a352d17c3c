"""CodeDeploy's traffic shifting for Lambda, which moto records but does not run.

moto answers CreateDeployment, GetDeployment, ListDeployments and the deployment-group
APIs, but its deployments stay ``Created`` forever and never touch the alias. This stand-in
does what CodeDeploy does for a Lambda deployment
(https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-lambda.html),
through moto's real Lambda and CloudWatch APIs:

- first step: the deployment starts; a canary config routes part of the alias's traffic
  to the target version (``AdditionalVersionWeights``), an all-at-once config moves it all;
- next step: if any alarm of the deployment group is in ``ALARM``, the deployment stops
  and the alias goes back to the current version (automatic rollback on
  ``DEPLOYMENT_STOP_ON_ALARM``); otherwise the alias moves to the target version.

It only changes a deployment's status in moto's backend (moto has no API for that), so it
needs the moto server to run in this process (``ThreadedMotoServer``).
"""

from __future__ import annotations

import json
from typing import Any

from moto.backends import get_backend

__all__ = ["CodeDeployEngine"]

ACCOUNT = "123456789012"


class CodeDeployEngine:
    def __init__(self, *, lambda_client: Any, cloudwatch: Any, region: str) -> None:
        self.lambda_ = lambda_client
        self.cloudwatch = cloudwatch
        self.backend = get_backend("codedeploy")[ACCOUNT][region]

    def step(self, _seconds: float = 0.0) -> None:
        """Advance every unfinished deployment by one step (usable as ``watch``'s sleep)."""
        for deployment in list(self.backend.deployments.values()):
            if deployment.status == "Created":
                self._begin(deployment)
            elif deployment.status == "InProgress":
                self._conclude(deployment)

    def _props(self, deployment: Any) -> dict[str, str]:
        spec = json.loads(deployment.revision["appSpecContent"]["content"])
        props: dict[str, str] = spec["Resources"][0]["service"]["Properties"]
        return props

    def _begin(self, deployment: Any) -> None:
        props = self._props(deployment)
        deployment.status = "InProgress"
        if "AllAtOnce" in str(deployment.deployment_config_name):
            return
        self.lambda_.update_alias(
            FunctionName=props["Name"],
            Name=props["Alias"],
            RoutingConfig={"AdditionalVersionWeights": {props["TargetVersion"]: 0.1}},
        )

    def _alarming(self, deployment: Any) -> list[str]:
        config = deployment.deployment_group.alarm_configuration or {}  # as it was sent
        names = [a["name"] for a in config.get("alarms", [])] if config.get("enabled") else []
        if not names:
            return []
        alarms = self.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        return [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]

    def _conclude(self, deployment: Any) -> None:
        props = self._props(deployment)
        firing = self._alarming(deployment)
        version = props["CurrentVersion"] if firing else props["TargetVersion"]
        self.lambda_.update_alias(
            FunctionName=props["Name"],
            Name=props["Alias"],
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        deployment.status = "Stopped" if firing else "Succeeded"
