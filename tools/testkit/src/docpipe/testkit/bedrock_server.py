"""A local HTTP server speaking Amazon Bedrock runtime's wire format, for tests.

It is the sanctioned stand-in for Bedrock: the real aioboto3 client
talks to it over HTTP via ``BEDROCK_ENDPOINT_URL``. It serves

- ``POST /model/{modelId}/invoke`` for Cohere Embed v4 / v3 and Titan Text Embeddings v2
  bodies, validated like Bedrock does (batch size, parameter values, extraneous keys);
- ``POST /model/{modelId}/converse`` for the Converse API;
- ``POST /model/{modelId}/converse-stream`` for ConverseStream: a chunked
  ``application/vnd.amazon.eventstream`` response (binary frames with prelude, headers and
  CRC32s, which botocore's event-stream parser decodes), one ``contentBlockDelta`` per word
  of the reply, ``stream_delay`` seconds apart, each frame flushed as it is written and its
  send time recorded (:attr:`BedrockServer.delta_times`); :meth:`BedrockServer.fail_stream`
  ends a stream with an exception event after some deltas, as Bedrock does mid-stream.
- the control-plane reads the preflight uses, answered only from what a test declared
  (:meth:`BedrockServer.offer_model`, :meth:`BedrockServer.offer_profile`; anything else
  is 404 ``ResourceNotFoundException``, as Bedrock answers an unknown ID):
  ``GET /foundation-models/{id}`` (GetFoundationModel), ``GET /inference-profiles/{id}``
  (GetInferenceProfile), ``GET /foundation-model-availability/{id}``
  (GetFoundationModelAvailability), shaped as the API reference documents them
  (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_Operations_Amazon_Bedrock.html).

Embeddings are deterministic functions of the text (:func:`fake_embedding`), so results
can be checked. Tests can add latency, queue faults (429 ``ThrottlingException``, 5xx)
and read per-model request counts and the peak number of requests in flight. A
requests-per-minute quota (:meth:`BedrockServer.set_quota`) throttles like an account
quota does: requests over it are answered 429 ``ThrottlingException``.
It runs a stdlib ``ThreadingHTTPServer`` in a daemon thread, independent of the
test's event loop.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

import numpy as np

from docpipe.testkit.local_http import LocalHttpServer

__all__ = [
    "NOT_SUBSCRIBED",
    "SUBSCRIBED",
    "Availability",
    "MODEL_NOT_READY",
    "SERVER_ERROR",
    "THROTTLE",
    "UNAVAILABLE",
    "BedrockServer",
    "Fault",
    "RecordedRequest",
    "fake_embedding",
]

_COHERE_INPUT_TYPES = {"search_document", "search_query", "classification", "clustering"}
_V4_KEYS = {"texts", "images", "inputs", "input_type", "embedding_types"}
_V4_KEYS |= {"output_dimension", "max_tokens", "truncate"}
_V3_KEYS = {"texts", "images", "input_type", "truncate", "embedding_types"}
_TITAN_KEYS = {"inputText", "dimensions", "normalize", "embeddingTypes"}


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """The unit vector this server returns for ``text`` (seeded by its BLAKE2b hash)."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    result: list[float] = (vector / np.linalg.norm(vector)).tolist()
    return result


@dataclass(frozen=True)
class Fault:
    """An error response: HTTP status and the Bedrock error code (``x-amzn-ErrorType``)."""

    status: int
    code: str
    message: str


THROTTLE = Fault(429, "ThrottlingException", "Too many requests, please wait before trying again.")
MODEL_NOT_READY = Fault(429, "ModelNotReadyException", "Model is not ready to serve inference.")
SERVER_ERROR = Fault(500, "InternalServerException", "The server encountered an internal error.")
UNAVAILABLE = Fault(503, "ServiceUnavailableException", "The service is unavailable.")


@dataclass(frozen=True)
class Availability:
    """What GetFoundationModelAvailability reports for one model in this account."""

    agreement: str = "AVAILABLE"  # AVAILABLE | PENDING | NOT_AVAILABLE | ERROR
    authorization: str = "AUTHORIZED"  # AUTHORIZED | NOT_AUTHORIZED
    entitlement: str = "AVAILABLE"  # AVAILABLE | NOT_AVAILABLE
    region: str = "AVAILABLE"  # AVAILABLE | NOT_AVAILABLE
    agreement_error: str = ""


SUBSCRIBED = Availability()
#: A Marketplace model the account has never invoked (no subscription yet).
NOT_SUBSCRIBED = Availability(agreement="NOT_AVAILABLE", entitlement="NOT_AVAILABLE")


class _Invalid(Exception):
    """A request Bedrock would reject with 400 ValidationException."""


@dataclass(frozen=True)
class RecordedRequest:
    operation: str  # "invoke" | "converse"
    model_id: str
    body: Any
    status: int


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _Invalid(message)


def _check_keys(body: Mapping[str, Any], allowed: set[str]) -> None:
    for key in body:
        _require(key in allowed, f"Malformed input request: extraneous key [{key}] not permitted")


def _cohere_texts(body: Mapping[str, Any], *, max_chars: int | None) -> list[str]:
    texts = body.get("texts")
    _require(isinstance(texts, list) and len(texts) >= 1, "texts: expected a non-empty array")
    assert isinstance(texts, list)
    _require(len(texts) <= 96, f"#/texts: expected maxItems: 96, actual: {len(texts)}")
    for text in texts:
        _require(isinstance(text, str), "texts: expected strings")
        _require(max_chars is None or len(text) <= max_chars, f"texts: maxLength {max_chars}")
    _require(body.get("input_type") in _COHERE_INPUT_TYPES, "input_type: invalid value")
    return texts


def _embed_cohere_v4(body: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(body, _V4_KEYS)
    texts = _cohere_texts(body, max_chars=None)
    dimensions = body.get("output_dimension", 1536)
    _require(dimensions in (256, 512, 1024, 1536), "output_dimension: invalid value")
    _require(body.get("truncate", "NONE") in ("NONE", "LEFT", "RIGHT"), "truncate: invalid")
    types = body.get("embedding_types", ["float"])
    _require(types == ["float"], "embedding_types: this server only produces float")
    return {
        "id": str(uuid.uuid4()),
        "embeddings": {"float": [fake_embedding(t, dimensions) for t in texts]},
        "texts": texts,
        "response_type": "embeddings_by_type",
    }


def _embed_cohere_v3(model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(body, _V3_KEYS)
    texts = _cohere_texts(body, max_chars=2048)
    _require(body.get("truncate", "NONE") in ("NONE", "START", "END"), "truncate: invalid")
    dimensions = 384 if "light" in model_id else 1024
    vectors = [fake_embedding(t, dimensions) for t in texts]
    if "embedding_types" in body:
        _require(body["embedding_types"] == ["float"], "embedding_types: only float here")
        embeddings: Any = {"float": vectors}
        response_type = "embeddings_by_type"
    else:
        embeddings, response_type = vectors, "embeddings_floats"
    return {"id": str(uuid.uuid4()), "embeddings": embeddings, "texts": texts,
            "response_type": response_type}  # fmt: skip


def _embed_titan_v2(body: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(body, _TITAN_KEYS)
    text = body.get("inputText")
    _require(isinstance(text, str) and 0 < len(text) <= 50_000, "inputText: invalid")
    assert isinstance(text, str)
    dimensions = body.get("dimensions", 1024)
    _require(dimensions in (256, 512, 1024), "dimensions: invalid value")
    _require(isinstance(body.get("normalize", True), bool), "normalize: expected boolean")
    return {"embedding": fake_embedding(text, dimensions), "inputTextTokenCount": len(text.split())}


def _invoke(model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    if "cohere.embed-v4" in model_id:
        return _embed_cohere_v4(body)
    if "cohere.embed-" in model_id and "-v3" in model_id:
        return _embed_cohere_v3(model_id, body)
    if "amazon.titan-embed-text-v2" in model_id:
        return _embed_titan_v2(body)
    raise _Invalid("The provided model identifier is invalid.")


def default_reply(model_id: str, request: Mapping[str, Any]) -> str:
    """The default Converse answer: names the model and quotes the last user text."""
    last = request["messages"][-1]
    text = " ".join(block.get("text", "") for block in last["content"])
    return f"[{model_id}] {text[:200]}"


class _TokenBucket:
    """Requests-per-minute quota: ``rpm / 60`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rpm: int, burst: int | None) -> None:
        self.rate = rpm / 60.0
        self.capacity = float(burst if burst is not None else max(1, round(self.rate)))
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def event_stream_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One frame of the AWS event-stream encoding: total and header lengths and their CRC32,
    headers (name, type 7 = string, value), payload, and the CRC32 of the whole message:
    https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html and
    https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html (the format
    is shared by every AWS event stream)."""
    encoded = b""
    for name, value in headers.items():
        key, raw = name.encode(), value.encode()
        encoded += len(key).to_bytes(1, "big") + key + b"\x07" + len(raw).to_bytes(2, "big") + raw
    total = 12 + len(encoded) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(encoded).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + encoded + payload
    return message + zlib.crc32(message).to_bytes(4, "big")


def _stream_event(event_type: str, body: Mapping[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return event_stream_message(headers, json.dumps(body).encode())


def _stream_exception(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return event_stream_message(headers, json.dumps({"message": message}).encode())


class BedrockServer(LocalHttpServer):
    """Start with ``with BedrockServer() as server:``; ``server.url`` is the endpoint."""

    def __init__(
        self, *, latency: float = 0.0, host: str = "127.0.0.1", region: str = "ap-northeast-1"
    ) -> None:
        super().__init__(host=host)
        self.latency = latency
        self.region = region
        self._models: dict[str, dict[str, Any]] = {}
        self._availability: dict[str, Availability] = {}
        self._profiles: dict[str, dict[str, Any]] = {}
        self.converse_reply: Callable[[str, Mapping[str, Any]], str] = default_reply
        self._lock = threading.Lock()
        self._faults: dict[str | None, deque[Fault]] = {}
        self._quota: _TokenBucket | None = None
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self.stream_delay = 0.0
        self.delta_times: list[float] = []
        """``time.perf_counter()`` when each streamed delta's frame was flushed."""
        self._stream_fault: tuple[int, str] | None = None

    # lifecycle -------------------------------------------------------------------------
    def handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"server_state": self})

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    # control -----------------------------------------------------------------------------
    def fail_next(
        self, count: int, fault: Fault = THROTTLE, *, model_id: str | None = None
    ) -> None:
        """Answer the next ``count`` requests (for ``model_id``, or any model) with ``fault``."""
        with self._lock:
            self._faults.setdefault(model_id, deque()).extend([fault] * count)

    def set_quota(self, rpm: int | None, *, burst: int | None = None) -> None:
        """Throttle to ``rpm`` accepted requests per minute (``None``: no quota).

        A token bucket refilled at ``rpm / 60`` per second holding at most ``burst``
        tokens (default: one second's worth), shared by every model: a request that
        finds no token is answered 429 ``ThrottlingException`` and costs none.
        """
        with self._lock:
            self._quota = None if rpm is None else _TokenBucket(rpm, burst)

    def fail_stream(
        self, after_deltas: int, exception_type: str = "modelStreamErrorException"
    ) -> None:
        """End the next ConverseStream with ``exception_type`` after ``after_deltas`` deltas."""
        with self._lock:
            self._stream_fault = (after_deltas, exception_type)

    def offer_model(
        self,
        model_id: str,
        *,
        provider: str,
        inference_types: tuple[str, ...] = ("ON_DEMAND",),
        lifecycle: str = "ACTIVE",
        availability: Availability | None = SUBSCRIBED,
    ) -> None:
        """Declare a foundation model for GetFoundationModel (and its availability, if any)."""
        with self._lock:
            self._models[model_id] = {
                "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}",
                "modelId": model_id,
                "modelName": model_id,
                "providerName": provider,
                "inputModalities": ["TEXT"],
                "outputModalities": ["EMBEDDING" if "embed" in model_id else "TEXT"],
                "responseStreamingSupported": "embed" not in model_id,
                "customizationsSupported": [],
                "inferenceTypesSupported": list(inference_types),
                "modelLifecycle": {"status": lifecycle},
            }
            if availability is not None:
                self._availability[model_id] = availability

    def set_availability(self, model_id: str, availability: Availability) -> None:
        """Declare (or change) GetFoundationModelAvailability's answer for ``model_id``."""
        with self._lock:
            self._availability[model_id] = availability

    def offer_profile(
        self,
        profile_id: str,
        *,
        destination_regions: tuple[str, ...],
        status: str = "ACTIVE",
        account_id: str = "123456789012",
    ) -> None:
        """Declare a system-defined inference profile routing to ``destination_regions``
        (``""`` stands for the region-less ARN a ``global.`` profile lists)."""
        model = profile_id.split(".", 1)[1]
        with self._lock:
            self._profiles[profile_id] = {
                "inferenceProfileName": profile_id,
                "description": f"Routes requests to {model}",
                "createdAt": "2025-01-01T00:00:00Z",
                "updatedAt": "2025-01-01T00:00:00Z",
                "inferenceProfileArn": (
                    f"arn:aws:bedrock:{self.region}:{account_id}:inference-profile/{profile_id}"
                ),
                "models": [
                    {"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model}"}
                    for r in destination_regions
                ],
                "inferenceProfileId": profile_id,
                "status": status,
                "type": "SYSTEM_DEFINED",
            }

    def control_plane_answer(self, path: str) -> tuple[int, Any, str | None]:
        """The (status, body, error code) Bedrock's control plane gives for a GET."""
        parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
        not_found = (404, {"message": "The specified resource ID was not found."},
                     "ResourceNotFoundException")  # fmt: skip
        if len(parts) != 2:
            return 404, {"message": "Not Found"}, "UnknownOperationException"
        kind, ident = parts
        with self._lock:
            if kind == "foundation-models" and ident in self._models:
                return 200, {"modelDetails": self._models[ident]}, None
            if kind == "inference-profiles" and ident in self._profiles:
                return 200, self._profiles[ident], None
            if kind == "foundation-model-availability" and ident in self._availability:
                a = self._availability[ident]
                agreement: dict[str, str] = {"status": a.agreement}
                if a.agreement_error:
                    agreement["errorMessage"] = a.agreement_error
                return (
                    200,
                    {
                        "modelId": ident,
                        "agreementAvailability": agreement,
                        "authorizationStatus": a.authorization,
                        "entitlementAvailability": a.entitlement,
                        "regionAvailability": a.region,
                    },
                    None,
                )
        return not_found

    def reset(self) -> None:
        """Forget recorded requests, peaks, pending faults and any quota; restore defaults."""
        with self._lock:
            self._models.clear()
            self._availability.clear()
            self._profiles.clear()
            self._quota = None
            self._faults.clear()
            self._peak.clear()
            self.requests.clear()
            self.delta_times.clear()
            self._stream_fault = None
        self.latency = 0.0
        self.stream_delay = 0.0
        self.converse_reply = default_reply

    # observations ------------------------------------------------------------------------
    def calls(
        self, model_id: str | None = None, *, operation: str = "invoke", ok: bool | None = None
    ) -> int:
        """Requests received (``ok=True``: answered 200 only, ``ok=False``: errors only)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.operation == operation
                and (model_id is None or r.model_id == model_id)
                and (ok is None or (r.status == 200) == ok)
            )

    def bodies(self, model_id: str | None = None, *, operation: str = "invoke") -> list[Any]:
        """JSON bodies of the requests answered 200, in arrival order."""
        with self._lock:
            return [
                r.body
                for r in self.requests
                if r.operation == operation
                and r.status == 200
                and (model_id is None or r.model_id == model_id)
            ]

    def max_in_flight(self, model_id: str) -> int:
        """Most requests for ``model_id`` that were being served at the same time."""
        with self._lock:
            return self._peak[model_id]

    # internals (called from handler threads) ---------------------------------------------
    def _enter(self, model_id: str) -> Fault | None:
        with self._lock:
            self._in_flight[model_id] += 1
            self._peak[model_id] = max(self._peak[model_id], self._in_flight[model_id])
            for key in (model_id, None):
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
            if self._quota is not None and not self._quota.take():
                return THROTTLE
            return None

    def _leave(self, model_id: str, record: RecordedRequest) -> None:
        with self._lock:
            self._in_flight[model_id] -= 1
            self.requests.append(record)

    def _converse(self, model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        _require(not any(s in model_id for s in ("embed",)), "Model does not support Converse")
        messages = body.get("messages")
        _require(isinstance(messages, list) and bool(messages), "messages: expected non-empty")
        assert isinstance(messages, list)
        _require(messages[0].get("role") == "user", "A conversation must start with a user message")
        words = self.converse_reply(model_id, body).split(" ")
        max_tokens = body.get("inferenceConfig", {}).get("maxTokens")
        stop = "end_turn"
        if isinstance(max_tokens, int) and len(words) > max_tokens:
            words, stop = words[:max_tokens], "max_tokens"
        prompt = json.dumps(body.get("system", [])) + json.dumps(messages)
        usage = {"inputTokens": len(prompt.split()), "outputTokens": len(words)}
        usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": " ".join(words)}]}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": int(self.latency * 1000)},
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as aiohttp expects
    server_state: BedrockServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client closed the connection (e.g. after ending a stream early)

    def do_GET(self) -> None:  # noqa: N802 - stdlib signature
        status, payload, error = self.server_state.control_plane_answer(self.path)
        self._send(status, payload, error=error)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("?", 1)[0].split("/")
        operations = ("invoke", "converse", "converse-stream")
        if len(parts) != 4 or parts[1] != "model" or parts[3] not in operations:
            self._send(404, {"message": "Not Found"}, error="UnknownOperationException")
            return
        model_id, operation = unquote(parts[2]), parts[3]
        state = self.server_state
        fault = state._enter(model_id)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        status = 500
        try:
            if state.latency:
                time.sleep(state.latency)
            status, payload, error = self._answer(operation, model_id, body, fault)
        finally:  # recorded before the reply, so a client never sees an unrecorded request
            state._leave(model_id, RecordedRequest(operation, model_id, body, status))
        if operation == "converse-stream" and status == 200:
            self._stream(payload)
            return
        self._send(status, payload, error=error)

    def _stream(self, response: Mapping[str, Any]) -> None:
        """Send a Converse response as ConverseStream events, one frame per chunk."""
        state = self.server_state
        text = response["output"]["message"]["content"][0]["text"]
        with state._lock:
            fault, state._stream_fault = state._stream_fault, None
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()

        def frame(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        frame(_stream_event("messageStart", {"role": "assistant"}))
        for index, word in enumerate(re.findall(r"\S+\s*|\s+", text)):
            if fault is not None and index == fault[0]:
                frame(_stream_exception(fault[1], "The model stream failed."))
                self.wfile.write(b"0\r\n\r\n")
                return
            if state.stream_delay:
                time.sleep(state.stream_delay)
            frame(
                _stream_event(
                    "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word}}
                )
            )
            with state._lock:
                state.delta_times.append(time.perf_counter())
        frame(_stream_event("contentBlockStop", {"contentBlockIndex": 0}))
        frame(_stream_event("messageStop", {"stopReason": response["stopReason"]}))
        frame(
            _stream_event("metadata", {"usage": response["usage"], "metrics": response["metrics"]})
        )
        self.wfile.write(b"0\r\n\r\n")

    def _answer(
        self, operation: str, model_id: str, body: Any, fault: Fault | None
    ) -> tuple[int, Any, str | None]:
        if fault is not None:
            return fault.status, {"message": fault.message}, fault.code
        try:
            _require(isinstance(body, dict), "Malformed input request, expected a JSON object")
            if operation in ("converse", "converse-stream"):
                return 200, self.server_state._converse(model_id, body), None
            return 200, _invoke(model_id, body), None
        except _Invalid as exc:
            return 400, {"message": str(exc)}, "ValidationException"

    def _send(self, status: int, payload: Any, *, error: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error is not None:
            self.send_header("x-amzn-ErrorType", f"{error}:http://internal.amazon.com/coral/")
        self.end_headers()
        self.wfile.write(data)
