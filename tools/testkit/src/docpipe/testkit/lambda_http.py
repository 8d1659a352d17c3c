"""A service's Lambda handler in a process of its own, fed API Gateway HTTP API events.

Like a warm Lambda execution environment: one process, configured from its environment,
whose module-level ``handler`` (Mangum) serves one event after another, keeping its
event loop and database pool between them. Events follow the HTTP API payload format 2.0
with the JWT authorizer's claims (AUTH_MODE=apigateway): :func:`http_api_event`, from
:mod:`docpipe.testkit.events`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from typing import Any

from docpipe.testkit.events import http_api_event

__all__ = ["LambdaProcess", "http_api_event"]

# Responses go to the original stdout; the service's JSON logs (stdout) go to stderr.
_SERVE = r"""
import importlib, json, os, sys, time
from docpipe.devstack.worker import LambdaContext
responses = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
handler = importlib.import_module(sys.argv[1]).handler
for line in sys.stdin:
    started = time.perf_counter()
    context = LambdaContext(29, function_name=sys.argv[2], function_version=sys.argv[3])
    response = handler(json.loads(line), context)
    response["elapsed"] = time.perf_counter() - started
    print(json.dumps(response), file=responses, flush=True)
"""


class LambdaProcess:
    """``with LambdaProcess("docpipe.upload.main", env) as fn: fn.invoke(event)``.

    Each invocation gets a Lambda context naming ``function_name`` and ``version``; what
    the process prints (its JSON logs and its EMF metric lines) is in :meth:`stderr`.
    """

    def __init__(
        self, module: str, env: dict[str, str], *, function_name: str = "fn", version: str = "1"
    ) -> None:
        self._args = [sys.executable, "-c", _SERVE, module, function_name, version]
        self._env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "false", **env}
        self._process: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile("w+")

    def __enter__(self) -> LambdaProcess:
        self._process = subprocess.Popen(
            self._args,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()

    def stderr(self) -> str:
        """What the process printed so far: JSON log lines and EMF metric lines."""
        self._stderr.seek(0)
        return self._stderr.read()

    def invoke(self, event: dict[str, Any], *, timeout: float = 60) -> dict[str, Any]:
        """The handler's response, plus ``elapsed``: seconds the handler took."""
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(event) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no answer within {timeout} s:\n{self.stderr()[-3000:]}")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the handler exited ({process.poll()}):\n{self.stderr()[-3000:]}")
        response: dict[str, Any] = json.loads(line)
        return response
