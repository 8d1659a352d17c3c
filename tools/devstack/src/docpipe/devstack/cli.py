"""``docpipe``: start the local stack and talk to its HTTP APIs.

    docpipe up                         # the local stack, in the foreground
    docpipe upload FILE...             # POST /v1/documents
    docpipe status [ID] [--status S]   # one document, or the list
    docpipe wait ID [--timeout S]      # until completed (exit 0) or failed (exit 1)
    docpipe search "query" [--mode M] [--top-k N]
    docpipe answer "question" [--top-k N]

URLs come from UPLOAD_URL / QUERY_URL, else 127.0.0.1 with UPLOAD_PORT / QUERY_PORT.
DOCPIPE_TOKEN, when set, is sent as a bearer token (services with AUTH_MODE=jwt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["main"]

FINAL_STATUSES = {"completed", "failed"}


def _url(service: str, default_port: int) -> str:
    explicit = os.environ.get(f"{service}_URL")
    port = os.environ.get(f"{service}_PORT", str(default_port))
    return (explicit or f"http://127.0.0.1:{port}").rstrip("/")


def _client(base_url: str) -> httpx.Client:
    token = os.environ.get("DOCPIPE_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=60.0)


def _pages(source: dict[str, Any]) -> str:
    """`` p.3`` or `` p.3-4``; nothing for a format without pages."""
    start, end = source.get("page_start"), source.get("page_end")
    if start is None:
        return ""
    return f" p.{start}" if start == end else f" p.{start}-{end}"


def _check(response: httpx.Response) -> Any:
    if response.is_error:
        sys.exit(f"HTTP {response.status_code}: {response.text}")
    return response.json() if response.content else None


def _line(doc: dict[str, Any]) -> str:
    extra = " (duplicate)" if doc.get("duplicate") else ""
    error = f"  error: {doc['error']}" if doc.get("error") else ""
    return (
        f"{doc['id']}  {doc['status']:<10} pages={doc.get('page_count')}"
        f" chunks={doc.get('chunk_count')}  {doc['filename']}{extra}{error}"
    )


def cmd_upload(args: argparse.Namespace) -> int:
    files = [("file", (Path(p).name, Path(p).read_bytes())) for p in args.files]
    with _client(_url("UPLOAD", 8001)) as http:
        body = _check(http.post("/v1/documents", files=files))
    for doc in body["documents"]:
        print(_line(doc))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _client(_url("UPLOAD", 8001)) as http:
        if args.id:
            print(json.dumps(_check(http.get(f"/v1/documents/{args.id}")), indent=2))
            return 0
        params = {"limit": args.limit, **({"status": args.status} if args.status else {})}
        for doc in _check(http.get("/v1/documents", params=params))["documents"]:
            print(_line(doc))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    with _client(_url("UPLOAD", 8001)) as http:
        while True:
            doc = _check(http.get(f"/v1/documents/{args.id}"))
            if doc["status"] in FINAL_STATUSES or time.monotonic() > deadline:
                print(_line(doc))
                return {"completed": 0, "failed": 1}.get(doc["status"], 2)
            time.sleep(0.5)


def cmd_search(args: argparse.Namespace) -> int:
    request = {"query": args.query, "mode": args.mode, "top_k": args.top_k}
    with _client(_url("QUERY", 8002)) as http:
        body = _check(http.post("/v1/search", json=request))
    for hit in body["results"]:
        text = " ".join(hit["text"].split())
        print(f"{hit['score']:.4f}  {hit['filename']}{_pages(hit)}  {text[:160]}")
    print(f"({len(body['results'])} results in {body.get('took_ms')} ms)")
    return 0


def cmd_answer(args: argparse.Namespace) -> int:
    with _client(_url("QUERY", 8002)) as http:
        body = _check(http.post("/v1/answer", json={"query": args.query, "top_k": args.top_k}))
    print(body["answer"])
    for cite in body.get("citations", []):
        print(f"  [{cite['filename']}{_pages(cite)}]")
    print(f"(model: {body.get('model')})")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from docpipe.devstack.stack import main as stack_main

    return stack_main()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docpipe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the local stack in the foreground").set_defaults(fn=cmd_up)
    p = sub.add_parser("upload", help="upload files")
    p.add_argument("files", nargs="+")
    p.set_defaults(fn=cmd_upload)
    p = sub.add_parser("status", help="show a document, or list documents")
    p.add_argument("id", nargs="?")
    p.add_argument(
        "--status", choices=["awaiting_upload", "queued", "processing", "completed", "failed"]
    )
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("wait", help="wait until a document is completed or failed")
    p.add_argument("id")
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(fn=cmd_wait)
    p = sub.add_parser("search", help="hybrid/vector/keyword search")
    p.add_argument("query")
    p.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    p.add_argument("--top-k", type=int, default=5)
    p.set_defaults(fn=cmd_search)
    p = sub.add_parser("answer", help="a grounded answer with citations")
    p.add_argument("query")
    p.add_argument("--top-k", type=int, default=5)
    p.set_defaults(fn=cmd_answer)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.fn(args)
    except httpx.TransportError as exc:
        sys.exit(f"cannot reach the service ({exc}); is `docpipe up` running?")
    return code


if __name__ == "__main__":
    sys.exit(main())
