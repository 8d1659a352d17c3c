"""A moto server in a process of its own that enforces IAM, and roles to call it as.

moto authorises requests only when ``INITIAL_NO_AUTH_ACTION_COUNT`` is set: it lets that
many requests through, then checks each one's signature against its IAM users' and
assumed roles' keys and their policies against the action and resource
(https://docs.getmoto.org/en/latest/docs/iam.html, ``moto/iam/access_control.py``). The
setting is process-wide, so the suite's shared server (``tests/conftest.py``) stays
permissive and this one runs as ``python -m moto.server`` in a child process.

The three requests let through create an administrator (user, inline policy, access key);
everything after is signed and authorised. A role is exercised the way Lambda uses it:
an inline policy from ``docpipe.infra.policies``, assumed through STS, its session
credentials signing the requests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from docpipe.devstack.embedded import DEFAULT_REGION, free_port
from docpipe.infra.policies import Statement, policy

__all__ = ["ACCOUNT", "Credentials", "IamMoto", "services_sign_as", "start_iam_moto"]

ACCOUNT = "123456789012"  # moto's default account
_BOOTSTRAP_REQUESTS = 3  # create_user, put_user_policy, create_access_key


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def boto3_kwargs(self) -> dict[str, Any]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


@dataclass
class IamMoto:
    endpoint: str
    process: subprocess.Popen[bytes]
    admin: Credentials
    admin_arn: str

    def client(self, service: str, credentials: Credentials | None = None) -> Any:
        """A boto3 client signing as ``credentials`` (the administrator by default)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=DEFAULT_REGION,
            **(credentials or self.admin).boto3_kwargs(),
        )

    def assume_role(self, name: str, statements: list[Statement]) -> Credentials:
        """A new role with ``statements`` as its only policy, assumed: its session keys."""
        iam = self.client("iam")
        role = f"{name}-{uuid.uuid4().hex[:8]}"
        trust = policy(
            [{"Effect": "Allow", "Principal": {"AWS": self.admin_arn}, "Action": "sts:AssumeRole"}]
        )
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        iam.put_role_policy(
            RoleName=role, PolicyName=name, PolicyDocument=json.dumps(policy(statements))
        )
        session = self.client("sts").assume_role(RoleArn=arn, RoleSessionName=name)
        keys = session["Credentials"]
        return Credentials(keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server not listening on {port} after {timeout_s} s")


def start_iam_moto(*, timeout_s: float = 60.0) -> IamMoto:
    """Start the server, create its administrator, and check that IAM is enforced."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_BOOTSTRAP_REQUESTS)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(process, port, timeout_s)
        endpoint = f"http://127.0.0.1:{port}"
        anyone = Credentials("AKIAUNKNOWNKEY000000", "unknown-secret")
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name=DEFAULT_REGION, **anyone.boto3_kwargs()
        )
        user = iam.create_user(UserName="admin")["User"]
        everything = [
            {"Effect": "Allow", "Action": ["iam:*", "sts:*", "s3:*", "sqs:*"], "Resource": "*"}
        ]
        iam.put_user_policy(
            UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(policy(everything))
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        server = IamMoto(
            endpoint=endpoint,
            process=process,
            admin=Credentials(key["AccessKeyId"], key["SecretAccessKey"]),
            admin_arn=user["Arn"],
        )
        _check_enforced(server, anyone)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return server


def _check_enforced(server: IamMoto, stranger: Credentials) -> None:
    try:
        server.client("s3", stranger).list_buckets()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidAccessKeyId":
            return
        raise
    raise RuntimeError("moto accepted an unknown access key: IAM is not enforced")


@asynccontextmanager
async def services_sign_as(credentials: Credentials) -> AsyncIterator[None]:
    """Inside the block, the services' own AWS calls sign as ``credentials``.

    ``docpipe.common.aws`` keeps one aioboto3 session (its credentials resolved once) and
    one client per service and event loop: the block closes this loop's resources on entry
    and exit and swaps the session, so storage, SQS and the handlers run exactly as they
    would under that role.
    """
    import aioboto3

    from docpipe.common import aws
    from docpipe.common.runtime import close_loop_resources

    await close_loop_resources()
    previous = aws._session
    aws._session = aioboto3.Session(region_name=DEFAULT_REGION, **credentials.boto3_kwargs())
    try:
        yield
    finally:
        await close_loop_resources()
        aws._session = previous
