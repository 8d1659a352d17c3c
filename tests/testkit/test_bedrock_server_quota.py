"""The local Bedrock-format server's requests-per-minute quota (bench.embedding_efficiency)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from docpipe.testkit.bedrock_server import BedrockServer

TITAN = "amazon.titan-embed-text-v2:0"


def _invoke(url: str) -> int:
    body = json.dumps({"inputText": "leave policy", "dimensions": 256}).encode()
    request = urllib.request.Request(f"{url}/model/{TITAN}/invoke", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        assert exc.headers["x-amzn-ErrorType"].startswith("ThrottlingException")
        return int(exc.code)


def test_requests_over_the_quota_are_throttled_and_reset_lifts_it() -> None:
    with BedrockServer() as server:
        server.set_quota(60, burst=2)  # one token a second, two saved
        assert [_invoke(server.url) for _ in range(3)] == [200, 200, 429]
        assert server.calls(TITAN, ok=True) == 2 and server.calls(TITAN, ok=False) == 1
        server.reset()
        assert [_invoke(server.url) for _ in range(3)] == [200, 200, 200]
