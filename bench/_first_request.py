"""Child process of bench.cold_start: import one service's Lambda handler, then invoke it.

Prints one JSON line: the import time, the first invocation (which builds the app, opens
the database pool and creates AWS clients) and a second one, each timed in-process.
Events are shaped like AWS sends them: API Gateway HTTP API (payload 2.0) for the two
HTTP services, an SQS batch of an S3 notification for the processor.

    python -m bench._first_request upload|query|processor [S3-KEY VERSION-ID]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

__all__ = ["main"]

MODULES = {
    "upload": "docpipe.upload.main",
    "query": "docpipe.query.main",
    "processor": "docpipe.processor.handler",
}


def _event(service: str, argv: list[str]) -> dict[str, Any]:
    # imported after the handler's module is timed, so its import time is the service's own
    from docpipe.testkit.events import http_api_event, s3_record, sqs_event

    if service == "upload":
        return http_api_event("GET", "/v1/documents")
    if service == "query":
        body = {"query": "overtime approval", "mode": "hybrid"}
        return http_api_event("POST", "/v1/search", body=body)
    import os

    key, version = argv
    record = s3_record(bucket=os.environ["DOCUMENTS_BUCKET"], key=key, version_id=version)
    return sqs_event({"Records": [record]})


def main() -> None:
    service, rest = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    module = __import__(MODULES[service], fromlist=["handler"])
    import_s = time.perf_counter() - started
    from docpipe.devstack.worker import LambdaContext

    event = _event(service, rest)
    timings = []
    results = []
    for _ in range(2):
        t = time.perf_counter()
        result = module.handler(event, LambdaContext(30))
        timings.append(time.perf_counter() - t)
        status = result.get("statusCode") if isinstance(result, dict) else None
        results.append(status if status is not None else result)
    print(
        json.dumps(
            {
                "service": service,
                "import_s": import_s,
                "first_s": timings[0],
                "second_s": timings[1],
                "results": results,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
