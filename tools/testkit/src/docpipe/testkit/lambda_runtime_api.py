"""A local HTTP server speaking the AWS Lambda Runtime API, for tests of a runtime loop.

The stand-in for the Lambda service side of a function (like ``bedrock_server`` is for
Bedrock): a runtime under test talks to it over HTTP through ``AWS_LAMBDA_RUNTIME_API``
exactly as in an execution environment. It serves the documented routes
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):

- ``GET /2018-06-01/runtime/invocation/next`` — blocks until a test queues an event, then
  answers it with the ``Lambda-Runtime-*`` headers;
- ``POST …/invocation/{id}/response`` — buffered (``Content-Length``), or streamed
  (``Lambda-Runtime-Function-Response-Mode: streaming`` with chunked transfer encoding and
  optional error trailers); each chunk is recorded with its arrival time, so a test can
  tell a streamed response from a buffered one;
- ``POST …/invocation/{id}/error`` and ``POST …/init/error``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from docpipe.testkit.local_http import LocalHttpServer

__all__ = ["Answer", "RuntimeApiServer"]

_PREFIX = "/2018-06-01/runtime"


@dataclass
class Answer:
    """What the runtime posted for one invocation."""

    request_id: str
    kind: str = "pending"  # "response" | "stream" | "error"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.chunks)


class RuntimeApiServer(LocalHttpServer):
    def __init__(self) -> None:
        super().__init__()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.answers: dict[str, Answer] = {}
        self.init_errors: list[Any] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"state": self})

    @property
    def address(self) -> str:
        return self.host_port

    def invoke(self, event: Any) -> Answer:
        """Queue an invocation; the returned answer fills in as the runtime responds."""
        request_id = str(uuid.uuid4())
        answer = Answer(request_id)
        self.answers[request_id] = answer
        self._events.put((request_id, event))
        return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib signature
        if self.path != f"{_PREFIX}/invocation/next":
            self._reply(404, {"errorMessage": "not found"})
            return
        request_id, event = self.state._events.get()
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:ap-northeast-1:123456789012:function:docpipe-dev-query:live",
        )
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - stdlib signature
        path = self.path
        if path == f"{_PREFIX}/init/error":
            self.state.init_errors.append(json.loads(self._read_plain()))
            self._reply(202, {"status": "OK"})
            return
        parts = path.removeprefix(f"{_PREFIX}/invocation/").split("/")
        answer = self.state.answers.get(parts[0]) if len(parts) == 2 else None
        if answer is None or parts[1] not in ("response", "error"):
            self._reply(404, {"errorMessage": "unknown invocation"})
            return
        answer.headers = {k.lower(): v for k, v in self.headers.items()}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            answer.kind = "stream" if parts[1] == "response" else "error"
            self._read_chunked(answer)
        else:
            answer.kind = parts[1]
            answer.chunks.append((time.perf_counter(), self._read_plain()))
        answer.done.set()
        self._reply(202, {"status": "OK"})

    def _read_plain(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self, answer: Answer) -> None:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            data = self.rfile.read(size)
            answer.chunks.append((time.perf_counter(), data))
            self.rfile.readline()  # CRLF after the chunk
        while (line := self.rfile.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            answer.trailers[name.strip().lower()] = value.strip()

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
