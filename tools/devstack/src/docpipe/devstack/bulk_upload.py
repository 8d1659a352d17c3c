"""``docpipe upload``: many files into the upload API, several per request, in parallel.

Files are grouped in path order into requests of at most ``files_per_request`` files and
``request_bytes`` bytes (the service's ``MAX_FILES_PER_REQUEST`` and
``MAX_API_UPLOAD_BYTES`` defaults), and ``parallel`` requests are in flight at once.
A file too large for one request takes the presigned flow on its own: ``POST
/v1/uploads``, then the form straight to S3 (docs/api.md).

The service refuses a whole request for one bad file, so a refused multi-file request is
split in two and each half sent again, until the file(s) at fault are alone and refused
with the service's reason; the others are stored. Files the shared type detector
(:func:`docpipe.common.filetypes.detect_content_type`, the one the service calls)
rejects, and empty files, are refused here without a round trip. Transient answers
(429, 502-504, a dropped connection) are retried with backoff.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from docpipe.common.filetypes import SNIFF_BYTES, detect_content_type
from docpipe.devstack.api import problem_detail
from docpipe.devstack.exceptions import ApiError

__all__ = ["FileResult", "UploadOptions", "upload_files"]

MIB = 1024 * 1024
#: Bytes of multipart framing per file part, besides the filename (headers, boundary).
_PART_OVERHEAD = 256
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Longest Retry-After of a 429 that is waited out (an uploads-per-minute quota).
MAX_QUOTA_WAIT_S = 90.0


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


_S3_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


@dataclass(frozen=True)
class UploadOptions:
    files_per_request: int = 10
    request_bytes: int = 4 * MIB
    parallel: int = 4
    retries: int = 4


@dataclass
class FileResult:
    path: Path
    size: int
    document: dict[str, Any] | None = None
    duplicate: bool = False
    refused: str | None = None
    presigned: bool = False


@dataclass
class _File:
    result: FileResult
    content_type: str = "application/octet-stream"
    data: bytes = b""

    @property
    def name(self) -> str:
        return self.result.path.name

    @property
    def request_size(self) -> int:
        return self.result.size + _PART_OVERHEAD + 2 * len(self.name.encode())


Progress = Callable[[Sequence[FileResult]], None]


class _Uploader:
    def __init__(
        self,
        *,
        api: httpx.AsyncClient,
        storage: httpx.AsyncClient,
        options: UploadOptions,
        progress: Progress,
    ) -> None:
        self.api, self.storage, self.options, self.progress = api, storage, options, progress
        self.slots = asyncio.Semaphore(options.parallel)

    def batches(self, files: list[_File]) -> tuple[list[list[_File]], list[_File]]:
        """Requests of small files (in order), and the files that need the presigned flow."""
        batches: list[list[_File]] = []
        large: list[_File] = []
        current: list[_File] = []
        size = 0
        for file in files:
            if file.request_size > self.options.request_bytes:
                large.append(file)
                continue
            if current and (
                len(current) == self.options.files_per_request
                or size + file.request_size > self.options.request_bytes
            ):
                batches.append(current)
                current, size = [], 0
            current.append(file)
            size += file.request_size
        if current:
            batches.append(current)
        return batches, large

    def _done(self, files: Sequence[_File]) -> None:
        for file in files:
            file.data = b""
        self.progress([f.result for f in files])

    def _refuse(self, files: Sequence[_File], reason: str) -> None:
        for file in files:
            file.result.refused = reason
        self._done(files)

    def _read(self, files: Sequence[_File]) -> list[_File]:
        """Load each file and check its type locally; the refused ones are reported."""
        sendable = []
        for file in files:
            if file.data:  # still held from a request that was split
                sendable.append(file)
                continue
            try:
                file.data = file.result.path.read_bytes()
            except OSError as exc:
                self._refuse([file], f"cannot read the file: {exc.strerror or exc}")
                continue
            refusal = _local_refusal(file, file.data[:SNIFF_BYTES])
            if refusal:
                self._refuse([file], refusal)
            else:
                sendable.append(file)
        return sendable

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response | str:
        """The response, or the reason it never came (after the retries).

        A 429 (the tenant's uploads-per-minute quota) is waited out as its ``Retry-After``
        says without using up a retry, as long as the wait is short (a rate, not a full
        quota: ``max_documents`` answers an hour).
        """
        reason = ""
        attempt = 0
        while True:
            try:
                response = await self.api.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                reason = f"the upload service did not answer ({type(exc).__name__})"
            else:
                if response.status_code in (401, 403):
                    raise ApiError(f"HTTP {response.status_code}: {problem_detail(response)}")
                if response.status_code not in _RETRY_STATUSES:
                    return response
                reason = f"HTTP {response.status_code}: {problem_detail(response)}"
                wait = _retry_after(response)
                if response.status_code == 429 and wait is not None and wait <= MAX_QUOTA_WAIT_S:
                    await asyncio.sleep(wait)
                    continue
            attempt += 1
            if attempt > self.options.retries:
                return reason
            await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))

    async def send(self, batch: list[_File]) -> None:
        async with self.slots:  # also bounds the files held in memory
            batch = self._read(batch)
            if not batch:
                return
            parts = [("file", (f.name, f.data, f.content_type)) for f in batch]
            response = await self._request("POST", "/v1/documents", files=parts)
            if isinstance(response, str):
                self._refuse(batch, response)
                return
            if response.status_code == 202:
                self._stored(batch, response.json()["documents"])
                return
        if len(batch) > 1 and response.status_code in (400, 413, 415, 422):
            middle = len(batch) // 2  # isolate the file(s) at fault; the others are stored
            await asyncio.gather(self.send(batch[:middle]), self.send(batch[middle:]))
        elif response.status_code == 413:
            await self.presigned(batch[0])
        else:
            self._refuse(batch, _error(response))

    def _stored(self, batch: list[_File], documents: list[dict[str, Any]]) -> None:
        for file, document in zip(batch, documents, strict=True):
            file.result.document = document
            file.result.duplicate = bool(document.get("duplicate"))
        self._done(batch)

    async def presigned(self, file: _File) -> None:
        """``POST /v1/uploads``, then the file straight to S3 with the returned form."""
        file.result.presigned = True
        file.data = b""
        async with self.slots:
            refusal = await self._presigned(file)
        if refusal:
            self._refuse([file], refusal)
        else:
            self._done([file])

    async def _presigned(self, file: _File) -> str | None:
        try:
            with file.result.path.open("rb") as stream:
                refusal = _local_refusal(file, stream.read(SNIFF_BYTES))
        except OSError as exc:
            refusal = f"cannot read the file: {exc.strerror or exc}"
        if refusal:
            return refusal
        request = {"filename": file.name, "content_type": file.content_type}
        response = await self._request(
            "POST", "/v1/uploads", json={**request, "size_bytes": file.result.size}
        )
        if isinstance(response, str):
            return response
        if response.status_code != 201:
            return _error(response)
        body = response.json()
        failed = await self._post_form(file, body["upload"])
        if failed is not None:  # no object will ever come: do not leave the document waiting
            await self._request("DELETE", f"/v1/documents/{body['document']['id']}")
            return failed
        file.result.document = body["document"]
        return None

    async def _post_form(self, file: _File, upload: dict[str, Any]) -> str | None:
        """POST the presigned form to S3; None when stored, else the reason."""
        try:
            with file.result.path.open("rb") as stream:
                response = await self.storage.post(
                    upload["url"],
                    data=upload["fields"],
                    files={"file": (file.name, stream, file.content_type)},
                )
        except (OSError, httpx.TransportError) as exc:
            return f"the upload to the document store failed: {exc}"
        if response.status_code in (200, 201, 204):
            return None
        message = _S3_MESSAGE.search(response.text)
        detail = message.group(1) if message else response.text[:200]
        return f"the document store refused the upload (HTTP {response.status_code}): {detail}"


def _error(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {problem_detail(response)}"


def _local_refusal(file: _File, head: bytes) -> str | None:
    if not head:
        return "the file is empty"
    content_type = detect_content_type(head, filename=file.name)
    if content_type is None:
        return "not a PDF, UTF-8 text or Markdown file (detected from its bytes)"
    file.content_type = content_type
    return None


async def upload_files(
    paths: Sequence[Path],
    *,
    api: httpx.AsyncClient,
    storage: httpx.AsyncClient,
    options: UploadOptions,
    progress: Progress = lambda results: None,
) -> list[FileResult]:
    """Upload ``paths``; one result per path, in the same order.

    Raises :class:`ApiError` when the service refuses the caller (401/403): no other
    request could succeed.
    """
    uploader = _Uploader(api=api, storage=storage, options=options, progress=progress)
    files = []
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError as exc:
            results = FileResult(path=path, size=0, refused=f"cannot read the file: {exc}")
            files.append(_File(results))
            uploader.progress([results])
            continue
        files.append(_File(FileResult(path=path, size=size)))
    batches, large = uploader.batches([f for f in files if f.result.refused is None])
    await asyncio.gather(
        *(uploader.send(batch) for batch in batches),
        *(uploader.presigned(file) for file in large),
    )
    return [f.result for f in files]
