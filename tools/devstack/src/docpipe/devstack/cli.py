"""``docpipe``: start the local stack and talk to its HTTP APIs.

    docpipe up                                 # the local stack, in the foreground
    docpipe upload PATH... [--wait]            # files, folders, globs -> POST /v1/documents
    docpipe status [ID] [--status S]           # one document, or the list
    docpipe wait [ID...] [--timeout S]         # until completed (exit 0) or failed (exit 1)
    docpipe search "query" [--mode M] [--top-k N]
    docpipe answer "question" [--top-k N]

URLs come from UPLOAD_URL / QUERY_URL, else 127.0.0.1 with UPLOAD_PORT / QUERY_PORT.
DOCPIPE_TOKEN, when set, is sent as a bearer token (services with AUTH_MODE=jwt).
Progress goes to stderr, results and summaries to stdout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from rich.console import Console

from docpipe.devstack import api
from docpipe.devstack.bulk_upload import FileResult, UploadOptions, upload_files
from docpipe.devstack.exceptions import ApiError
from docpipe.devstack.file_selection import select_files
from docpipe.devstack.progress_display import ProgressDisplay
from docpipe.devstack.tracking import FINAL_STATUSES, Tracked, track, unfinished_ids

__all__ = ["app", "main"]

app = typer.Typer(
    name="docpipe",
    help="Start the local stack and talk to its HTTP APIs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# markup off: file names and document text (hostile input) are printed as they are.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
T = TypeVar("T")

#: Per-document lines are printed for uploads of at most this many files.
LIST_UP_TO = 20
#: Refusals and failures listed in a summary (the rest are counted).
SHOW_AT_MOST = 20


class Status(StrEnum):
    awaiting_upload = "awaiting_upload"
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"


class Mode(StrEnum):
    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(message)
    raise typer.Exit(code)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command; connection and API errors end it with a clear message."""
    try:
        return asyncio.run(work())
    except httpx.TransportError as exc:
        _fail(f"cannot reach the service ({exc!r}); is `docpipe up` running?")
    except ApiError as exc:
        _fail(str(exc))


def _checked(response: httpx.Response) -> Any:
    if response.is_error:
        _fail(f"HTTP {response.status_code}: {api.problem_detail(response)}", 1)
    return response.json() if response.content else None


def _line(doc: dict[str, Any]) -> str:
    extra = " (duplicate)" if doc.get("duplicate") else ""
    error = f"  error: {doc['error']}" if doc.get("error") else ""
    return (
        f"{doc['id']}  {doc['status']:<10} pages={doc.get('page_count')}"
        f" chunks={doc.get('chunk_count')}  {doc.get('filename', '')}{extra}{error}"
    )


# ------------------------------------------------------------------------------ upload


def _upload_summary(results: Sequence[FileResult], seconds: float) -> None:
    refused = [r for r in results if r.refused]
    duplicates = sum(r.duplicate for r in results)
    new = len(results) - len(refused) - duplicates
    presigned = sum(r.presigned and not r.refused for r in results)
    size = sum(r.size for r in results) / 1024 / 1024
    rate = len(results) / max(seconds, 1e-9)
    out.print(
        f"{len(results):,} files ({size:,.1f} MB) in {seconds:.1f} s ({rate:,.1f} files/s):"
        f" {new:,} new, {duplicates:,} duplicate(s), {len(refused):,} refused"
        + (
            f"; {presigned:,} through a presigned upload (too large for one request)"
            if presigned
            else ""
        )
    )
    if refused:
        out.print("refused:")
        for result in refused[:SHOW_AT_MOST]:
            out.print(f"  {result.path}  {result.refused}")
        if len(refused) > SHOW_AT_MOST:
            reasons = Counter(r.refused for r in refused[SHOW_AT_MOST:])
            for reason, count in reasons.most_common():
                out.print(f"  … and {count:,} more: {reason}")


async def _upload(paths: list[Path], options: UploadOptions) -> list[FileResult]:
    results: list[FileResult] = []
    with ProgressDisplay("Uploading", total=len(paths), unit="files", console=err) as shown:

        def advance(batch: Sequence[FileResult]) -> None:
            results.extend(batch)
            refused = sum(r.refused is not None for r in results)
            shown.update(done=len(results), note=f"{refused:,} refused" if refused else "")

        async with (
            api.async_client(api.upload_url(), connections=options.parallel * 2) as client,
            httpx.AsyncClient(timeout=api.TIMEOUT) as storage,
        ):
            return await upload_files(
                paths, api=client, storage=storage, options=options, progress=advance
            )


@app.command()
def upload(
    paths: Annotated[
        list[str], typer.Argument(help="files, folders (recursively) or glob patterns ('**' too)")
    ],
    wait: Annotated[
        bool, typer.Option("--wait", help="then wait until every document is completed or failed")
    ] = False,
    parallel: Annotated[int, typer.Option(min=1, max=64, help="requests in flight")] = 4,
    files_per_request: Annotated[
        int, typer.Option(min=1, max=100, help="the service's MAX_FILES_PER_REQUEST")
    ] = 10,
    request_mb: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="the service's MAX_API_UPLOAD_BYTES, in MiB; larger files"
            " go through a presigned upload",
        ),
    ] = 4.0,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600.0,
) -> None:
    """Upload files: several per request, in parallel, large ones through a presigned upload."""
    selection = select_files(paths)
    for argument in selection.unmatched:
        err.print(f"no such file or folder, or nothing matches: {argument}")
    if not selection.files:
        _fail("nothing to upload", 1)
    options = UploadOptions(
        files_per_request=files_per_request,
        request_bytes=int(request_mb * 1024 * 1024),
        parallel=parallel,
    )
    started = time.monotonic()
    results = _run(lambda: _upload(selection.files, options))
    if len(results) <= LIST_UP_TO:
        for result in results:
            if result.document is not None:
                out.print(_line({**result.document, "duplicate": result.duplicate}))
    _upload_summary(results, time.monotonic() - started)
    code = 1 if selection.unmatched or any(r.refused for r in results) else 0
    if wait:
        documents = [r.document for r in results if r.document is not None]
        ids = [d["id"] for d in documents if d["status"] not in FINAL_STATUSES]
        code = max(code, _wait_for(ids, timeout=timeout, already=len(documents) - len(ids)))
    raise typer.Exit(code)


# -------------------------------------------------------------------------------- wait


def _wait_summary(tracked: Tracked, seconds: float) -> int:
    done = len(tracked.final)
    failed = tracked.failed
    out.print(
        f"{done:,} document(s) ended in {seconds:.1f} s ({done / max(seconds, 1e-9):,.1f}/s):"
        f" {tracked.completed:,} completed, {len(failed):,} failed"
        + (f"; {len(tracked.pending):,} still in progress (timed out)" if tracked.pending else "")
    )
    if failed:
        out.print("failed:")
        for doc in failed[:SHOW_AT_MOST]:
            out.print(f"  {doc['id']}  {doc.get('filename', '')}  {doc.get('error')}")
        if len(failed) > SHOW_AT_MOST:
            out.print(f"  … and {len(failed) - SHOW_AT_MOST:,} more")
    if tracked.pending:
        return 2
    return 1 if failed else 0


def _wait_for(ids: Sequence[str], *, timeout: float, already: int = 0) -> int:
    """Track ``ids`` with a progress bar; the exit code (0 completed, 1 failed, 2 timeout)."""
    if not ids:
        return 0
    started = time.monotonic()

    async def follow() -> Tracked:
        with ProgressDisplay("Processing", total=len(ids), unit="docs", console=err) as shown:

            def advance(tracked: Tracked) -> None:
                failed = len(tracked.failed)
                shown.update(done=len(tracked.final), note=f"{failed:,} failed" if failed else "")

            async with api.async_client(api.upload_url()) as client:
                return await track(client, ids, timeout_s=timeout, progress=advance)

    tracked = _run(follow)
    if already:
        out.print(f"({already:,} duplicate(s) had already ended: not waited for)")
    return _wait_summary(tracked, time.monotonic() - started)


@app.command("wait")
def wait_command(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="document ids; none: every document now queued or processing"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait at most")] = 600.0,
) -> None:
    """Wait until documents are completed (exit 0) or failed (exit 1); 2 on timeout."""
    if ids and len(ids) == 1:  # one document: its line, as `docpipe status` prints it
        deadline = time.monotonic() + timeout
        with api.sync_client(api.upload_url()) as http:
            while True:
                doc = _checked(_get(http, f"/v1/documents/{ids[0]}"))
                if doc["status"] in FINAL_STATUSES or time.monotonic() > deadline:
                    out.print(_line(doc))
                    raise typer.Exit({"completed": 0, "failed": 1}.get(doc["status"], 2))
                time.sleep(0.5)

    async def in_pipeline() -> list[str]:
        async with api.async_client(api.upload_url()) as client:
            return sorted(await unfinished_ids(client, ("queued", "processing")))

    targets = list(ids) if ids else _run(in_pipeline)
    if not targets:
        out.print("no document is queued or processing")
    raise typer.Exit(_wait_for(targets, timeout=timeout))


# ------------------------------------------------------------------- the other commands


def _get(http: httpx.Client, path: str, **params: Any) -> httpx.Response:
    try:
        return http.get(path, params=params or None)
    except httpx.TransportError as exc:
        _fail(f"cannot reach the service ({exc!r}); is `docpipe up` running?")


def _post(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    try:
        return http.post(path, json=body)
    except httpx.TransportError as exc:
        _fail(f"cannot reach the service ({exc!r}); is `docpipe up` running?")


@app.command()
def status(
    document_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="a document id; none: the list")
    ] = None,
    status: Annotated[Status | None, typer.Option("--status", help="list only these")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 50,
) -> None:
    """Show a document, or list documents (newest first)."""
    with api.sync_client(api.upload_url()) as http:
        if document_id:
            out.print(json.dumps(_checked(_get(http, f"/v1/documents/{document_id}")), indent=2))
            return
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status.value
        for doc in _checked(_get(http, "/v1/documents", **params))["documents"]:
            out.print(_line(doc))


def _pages(source: dict[str, Any]) -> str:
    """`` p.3`` or `` p.3-4``; nothing for a format without pages."""
    start, end = source.get("page_start"), source.get("page_end")
    if start is None:
        return ""
    return f" p.{start}" if start == end else f" p.{start}-{end}"


@app.command()
def search(
    query: str,
    mode: Annotated[Mode, typer.Option()] = Mode.hybrid,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50)] = 5,
) -> None:
    """Hybrid, vector or keyword search."""
    request = {"query": query, "mode": mode.value, "top_k": top_k}
    with api.sync_client(api.query_url()) as http:
        body = _checked(_post(http, "/v1/search", request))
    for hit in body["results"]:
        text = " ".join(hit["text"].split())
        out.print(f"{hit['score']:.4f}  {hit['filename']}{_pages(hit)}  {text[:160]}")
    out.print(f"({len(body['results'])} results in {body.get('took_ms')} ms)")


@app.command()
def answer(query: str, top_k: Annotated[int, typer.Option("--top-k", min=1, max=50)] = 5) -> None:
    """A grounded answer with citations."""
    with api.sync_client(api.query_url()) as http:
        body = _checked(_post(http, "/v1/answer", {"query": query, "top_k": top_k}))
    out.print(body["answer"])
    for cite in body.get("citations", []):
        out.print(f"  [{cite['filename']}{_pages(cite)}]")
    out.print(f"(model: {body.get('model')})")


@app.command()
def up() -> None:
    """Run the local stack in the foreground (Ctrl-C stops everything)."""
    from docpipe.devstack.stack import main as stack_main

    raise typer.Exit(stack_main())


def main() -> None:
    app(prog_name="docpipe")


if __name__ == "__main__":
    main()
