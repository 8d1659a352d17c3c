"""A Lambda runtime loop for an HTTP service whose answers may stream.

Lambda's Python runtime interface client (``awslambdaric``) posts each result whole; Lambda
response streaming needs a runtime that speaks the Runtime API's streaming mode
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html#runtimes-custom-response-streaming:
``Lambda-Runtime-Function-Response-Mode: streaming``, ``Transfer-Encoding: chunked``,
errors after the first byte as the trailers ``Lambda-Runtime-Function-Error-Type`` and
``-Body``). This module is that runtime, run as the image's entry point for the query
function (``python -m docpipe.common.lambda_runtime docpipe.query.main``), one process per
execution environment, invocations one at a time:

- an API Gateway **HTTP API** event (payload 2.0) is answered exactly as before, by the
  service's buffered handler (``measured(Mangum(app))``: :func:`docpipe.common.web.lazy_app`);
- an API Gateway **REST API** event (payload 1.0) comes from the route whose integration
  streams (``ResponseTransferMode: STREAM``, invoked with InvokeWithResponseStream): the
  ASGI app runs on the same event loop and each body chunk is written to Lambda as it is
  sent, after the metadata prelude API Gateway requires (a JSON object with
  ``statusCode`` and ``headers``, then eight NUL bytes:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html).

Both paths report ``Requests`` and ``Http5xx`` per function version
(:mod:`docpipe.common.metrics`), so the canary of the one ``live`` alias sees streamed
answers too; a stream that ends with an ``error`` event counts as a 5xx (the app marks it
in the request state, see ``STREAM_FAILED_KEY``).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "DELIMITER",
    "STREAM_FAILED_KEY",
    "Invocation",
    "RuntimeApi",
    "asgi_scope",
    "is_streaming_event",
    "main",
    "serve_forever",
    "stream_invocation",
]

_PREFIX = "/2018-06-01/runtime"
DELIMITER = b"\x00" * 8
#: Request-state key an app sets when a stream that began with 200 ended in failure.
STREAM_FAILED_KEY = "docpipe_stream_failed"


@dataclass(frozen=True)
class Invocation:
    request_id: str
    event: Any
    deadline_ms: int
    function_arn: str
    trace_id: str | None


class LambdaContext:
    """The attributes of Lambda's Python context object that docpipe reads."""

    def __init__(self, invocation: Invocation) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, self._deadline_ms - int(time.time() * 1000))


class RuntimeApi:
    """The Runtime API at ``host:port`` (``AWS_LAMBDA_RUNTIME_API``), over plain HTTP/1.1."""

    def __init__(self, address: str) -> None:
        host, _, port = address.partition(":")
        self.host, self.port = host, int(port or 80)

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def next(self) -> Invocation:
        conn = self._connection()  # no timeout: the environment is frozen while idle
        try:
            conn.request("GET", f"{_PREFIX}/invocation/next")
            response = conn.getresponse()
            body = response.read()
            headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"runtime API next: HTTP {response.status}")
        trace = headers.get("lambda-runtime-trace-id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        return Invocation(
            request_id=headers["lambda-runtime-aws-request-id"],
            event=json.loads(body or b"null"),
            deadline_ms=int(headers.get("lambda-runtime-deadline-ms", "0")),
            function_arn=headers.get("lambda-runtime-invoked-function-arn", ""),
            trace_id=trace,
        )

    def _post(self, path: str, body: bytes, headers: Mapping[str, str]) -> None:
        conn = self._connection(timeout=30)
        try:
            conn.request("POST", f"{_PREFIX}{path}", body=body, headers=dict(headers))
            conn.getresponse().read()
        finally:
            conn.close()

    def respond(self, request_id: str, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self._post(f"/invocation/{request_id}/response", body, {"Content-Type": "application/json"})

    def error(self, path: str, exc: BaseException) -> None:
        payload = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc),
        }
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": f"Runtime.{type(exc).__name__}",
        }
        self._post(path, json.dumps(payload).encode(), headers)

    def open_stream(self, request_id: str) -> StreamWriter:
        conn = self._connection(timeout=None)
        conn.putrequest("POST", f"{_PREFIX}/invocation/{request_id}/response")
        conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Content-Type", "application/vnd.awslambda.http-integration-response")
        conn.putheader(
            "Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
        )
        conn.endheaders()
        return StreamWriter(conn)


class StreamWriter:
    """One streamed response: chunks written as they come, then the end (or an error)."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn

    def write(self, data: bytes) -> None:
        if data:
            self.conn.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def close(self, error: BaseException | None = None) -> None:
        trailers = b""
        if error is not None:
            body = base64.b64encode(
                json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}).encode()
            )
            trailers = (
                f"Lambda-Runtime-Function-Error-Type: Runtime.{type(error).__name__}\r\n".encode()
                + b"Lambda-Runtime-Function-Error-Body: "
                + body
                + b"\r\n"
            )
        try:
            self.conn.send(b"0\r\n" + trailers + b"\r\n")
            self.conn.getresponse().read()
        finally:
            self.conn.close()


def is_streaming_event(event: Any) -> bool:
    """REST API (payload 1.0) events come from the streaming route; HTTP API's are 2.0."""
    return isinstance(event, dict) and event.get("version") != "2.0" and "httpMethod" in event


def asgi_scope(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ASGI HTTP scope of an API Gateway REST API proxy event (payload 1.0)."""
    headers: dict[str, list[str]] = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), []).extend(values or [])
    for name, value in (event.get("headers") or {}).items():
        headers.setdefault(name.lower(), [value])
    query = event.get("multiValueQueryStringParameters") or {
        k: [v] for k, v in (event.get("queryStringParameters") or {}).items()
    }
    context = event.get("requestContext") or {}
    source_ip = (context.get("identity") or {}).get("sourceIp") or "0.0.0.0"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": event["httpMethod"],
        "scheme": "https",
        "path": event.get("path") or "/",
        "raw_path": None,
        "root_path": "",
        "query_string": urlencode([(k, v) for k, vs in query.items() for v in vs]).encode(),
        "headers": [(k.encode(), v.encode()) for k, vs in headers.items() for v in vs],
        "server": (headers.get("host", ["lambda"])[0], 443),
        "client": (source_ip, 0),
        "aws.event": event,  # as Mangum provides it: the authorizer's claims live here
    }


def _body(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()


async def stream_invocation(
    app: Callable[..., Any], event: Mapping[str, Any], writer: StreamWriter
) -> int:
    """Run ``app`` on ``event``, streaming its response through ``writer``; the status
    (500 when the app failed before answering, 599-style failures reported as 500)."""
    scope = asgi_scope(event)
    scope["state"] = {}
    body, sent_body = _body(event), False
    status = 500
    started = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the client cannot disconnect mid-invocation
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal status, started
        if message["type"] == "http.response.start":
            status = int(message["status"])
            multi: dict[str, list[str]] = {}
            for key, value in message.get("headers", []):
                multi.setdefault(key.decode("latin-1"), []).append(value.decode("latin-1"))
            prelude = {"statusCode": status, "multiValueHeaders": multi}
            writer.write(json.dumps(prelude).encode() + DELIMITER)
            started = True
        elif message["type"] == "http.response.body":
            writer.write(bytes(message.get("body", b"")))

    try:
        await app(scope, receive, send)
    except Exception as exc:
        if not started:
            writer.write(json.dumps({"statusCode": 500, "headers": {}}).encode() + DELIMITER)
        writer.close(error=exc)
        return 500
    writer.close()
    return 500 if scope["state"].get(STREAM_FAILED_KEY) else status


def _load(module_name: str) -> tuple[Any, Callable[[Any, Any], Any]]:
    """The module's ASGI ``app`` and buffered Lambda ``handler`` (both built on first use)."""
    module = importlib.import_module(module_name)
    return module.app, module.handler


def serve_forever(api: RuntimeApi, module_name: str, *, invocations: int | None = None) -> None:
    """Fetch and answer invocations (``invocations``: stop after that many, for tests)."""
    from docpipe.common.metrics import FunctionIdentity, Metric, publish
    from docpipe.common.runtime import process_loop

    try:
        app, buffered = _load(module_name)
    except Exception as exc:
        api.error("/init/error", exc)
        raise
    loop = process_loop()  # set as the current loop: the one Mangum runs on too
    served = 0
    while invocations is None or served < invocations:
        invocation = api.next()
        context = LambdaContext(invocation)
        served += 1
        if not is_streaming_event(invocation.event):
            try:
                api.respond(invocation.request_id, buffered(invocation.event, context))
            except Exception as exc:  # measured() has already counted it as a 5xx
                api.error(f"/invocation/{invocation.request_id}/error", exc)
            continue
        writer = api.open_stream(invocation.request_id)
        status = loop.run_until_complete(stream_invocation(app, invocation.event, writer))
        publish(
            {Metric.REQUESTS: 1, Metric.SERVER_ERRORS: int(status >= 500)},
            function=FunctionIdentity.of(context),
        )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit(
            "usage: python -m docpipe.common.lambda_runtime <module with app, handler>"
        )
    serve_forever(RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"]), args[0])


if __name__ == "__main__":
    main()
