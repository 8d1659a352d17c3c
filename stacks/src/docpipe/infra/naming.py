"""Physical names shared by the Pulumi program and the rollout command.

The rollout command must find a service's function, alias and CodeDeploy group
without the Pulumi CLI, so both sides derive them from (stack, service) here.
"""

from __future__ import annotations

__all__ = [
    "ALIAS_NAME",
    "codedeploy_application",
    "deployment_config_name",
    "deployment_group",
    "function_name",
    "prefix",
]

ALIAS_NAME = "live"


def prefix(*, stack: str) -> str:
    return f"docpipe-{stack}"


def function_name(*, stack: str, service: str) -> str:
    return f"{prefix(stack=stack)}-{service}"


def codedeploy_application(*, stack: str, service: str) -> str:
    return f"{prefix(stack=stack)}-{service}"


def deployment_group(*, stack: str, service: str) -> str:
    return f"{prefix(stack=stack)}-{service}-{ALIAS_NAME}"


def deployment_config_name(*, stack: str, service: str, percentage: int, minutes: int) -> str:
    """Per service, so changing one service's canary never touches another's."""
    return f"{prefix(stack=stack)}-{service}-canary-{percentage}pct-{minutes}min"
