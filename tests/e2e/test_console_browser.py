"""The web console in a real browser (headless Chromium) against the local stack.

The stack is `docpipe up` as a subprocess, as in test_local_stack.py: real upload and query
services, moto's S3/SQS, the processor's handler, PostgreSQL with pgvector, and the console
served with its security headers. Answers come from the query service's Bedrock path
talking to the Bedrock stand-in (docpipe.testkit.bedrock_server), which streams its reply
word by word with a delay, so the test can watch the answer arrive in pieces.

Set DOCPIPE_SCREENSHOTS=docs/console to refresh the screenshots in docs/console.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pymupdf
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    FileChooser,
    Page,
    Route,
    async_playwright,
    expect,
)
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from docpipe.testkit.bedrock_server import BedrockServer
from docpipe.testkit.browser import PageProblems, axe_violations, focused, launch_chromium, tab_to
from docpipe.testkit.local_stack import StackProcess, running_stack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FACT_PAGE = 4
FACT = "New employees receive fifteen days of annual leave per year."
QUESTION = "How many days of annual leave do new employees get?"
ANSWER = (
    "New employees receive fifteen days of annual leave each year [1]. "
    "Ask your manager two weeks ahead and record the request in the HR system [1]."
)
REWRITTEN = "annual leave request notice for new employees"
SCREENSHOTS = os.environ.get("DOCPIPE_SCREENSHOTS")
PROCESSED = 60_000  # ms: a document from upload to completed


def _reply(model: str, request: Mapping[str, Any]) -> str:
    """The stand-in's Converse reply: a rewrite for follow-ups, else the cited answer."""
    system = json.dumps(request.get("system", ""))
    return REWRITTEN if "standalone search query" in system else ANSWER


def _pdf(*, title: str, fact_page: int | None = FACT_PAGE, pages: int = 6) -> bytes:
    doc = pymupdf.open()
    for n in range(1, pages + 1):
        page = doc.new_page()
        text = f"{title}, page {n}. " + (
            f"Section {n} explains payroll, benefits and working hours in detail. " * 12
        )
        if n == fact_page:
            text += FACT
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=10)
    data: bytes = doc.tobytes()
    return data


def _large_pdf(size: int) -> bytes:
    """A PDF larger than ``size`` bytes (an incompressible image) with a text layer."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((50, 60), "Travel policy: economy class for flights under six hours.")
    side = int((size / 3) ** 0.5) + 64
    noise = pymupdf.Pixmap(pymupdf.csRGB, side, side, os.urandom(side * side * 3), 0)
    page.insert_image(pymupdf.Rect(50, 100, 550, 600), pixmap=noise)
    data: bytes = doc.tobytes(deflate=False)
    assert len(data) > size
    return data


@pytest.fixture(scope="module")
def bedrock() -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        server.converse_reply = _reply
        server.stream_delay = 0.08  # between words: about two seconds per answer
        yield server


@pytest.fixture(scope="module")
def stack(bedrock: BedrockServer) -> Iterator[StackProcess]:
    env = {"ANSWER_PROVIDER": "bedrock", "BEDROCK_ENDPOINT_URL": bedrock.url}
    with running_stack("docpipe-e2e-console-", **env) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        yield chromium
        await chromium.close()


class Console:
    """One browser context on the console, with what its pages reported."""

    def __init__(self, context: BrowserContext, page: Page, stack: StackProcess) -> None:
        self.context = context
        self.page = page
        self.url = stack.info["console_url"]
        self.upload_url = stack.info["upload_url"]
        self.s3_url = stack.info["aws_endpoint_url"]
        self.problems = PageProblems()
        self.problems.watch(page)

    async def open(self, hash_: str = "") -> None:
        await self.page.goto(f"{self.url}/{hash_}")
        await expect(self.page.locator("main h1")).to_be_visible()

    async def upload(self, path: Path) -> None:
        await self.page.get_by_role("link", name=re.compile("Documents|文件庫")).click()
        await self.page.locator("#files").set_input_files(path)

    def row(self, filename: str) -> Any:
        return self.page.locator("tr", has=self.page.get_by_role("button", name=f"Edit {filename}"))

    async def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(Path(SCREENSHOTS) / name))


@pytest.fixture
async def console(browser: Browser, stack: StackProcess) -> AsyncIterator[Console]:
    context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    running = Console(context, page, stack)
    yield running
    await context.close()
    # A CSP violation is a console error: the app must work under the deployed policy.
    assert running.problems.messages == []


async def _serve_pdf_popups(console: Console) -> list[dict[str, Any]]:
    """Headless Chromium downloads a PDF instead of showing it, so a tab opened on the
    presigned S3 URL is answered with a small page once the real S3 response has been read
    (status, type, first bytes): the tab then shows the URL it was sent to, #page included."""
    seen: list[dict[str, Any]] = []

    async def handle(route: Route) -> None:
        if route.request.resource_type != "document":
            await route.continue_()
            return
        response = await route.fetch()
        body = await response.body()
        seen.append(
            {"url": route.request.url, "status": response.status, "head": body[:5],
             "type": response.headers.get("content-type")}
        )  # fmt: skip
        await route.fulfill(status=200, content_type="text/html", body="<title>source</title>")

    await console.context.route(f"{console.s3_url}/**", handle)
    return seen


async def _ask(page: Page, question: str) -> tuple[Any, list[str]]:
    """Send ``question`` with Enter; return the answer's list item and the text seen while it
    streamed (one snapshot per change)."""
    box = page.get_by_label(re.compile("Your question|您的問題"))
    await box.fill(question)
    await box.press("Enter")
    answer = page.locator("li.turn.assistant").last
    snapshots: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = await answer.get_attribute("aria-busy")
        text = await answer.locator(".answer-text").all_inner_texts()
        current = "".join(text)
        if current and (not snapshots or snapshots[-1] != current):
            snapshots.append(current)
        if busy is None and await answer.locator(".meta").count():
            return answer, snapshots
        await page.wait_for_timeout(25)
    raise AssertionError(f"no complete answer within 30 s; saw {snapshots[-1:]!r}")


async def test_upload_completes_and_answer_streams_with_citation_that_opens_the_source(
    console: Console, tmp_path: Path
) -> None:
    page = console.page
    pdf = tmp_path / "handbook.pdf"
    pdf.write_bytes(_pdf(title="Employee handbook"))
    await console.open()
    await console.upload(pdf)

    row = console.row("handbook.pdf")
    await expect(row).to_have_attribute("data-status", "completed", timeout=PROCESSED)
    await expect(row.get_by_text("Completed")).to_be_visible()
    await expect(row.locator("td.number").first).to_have_text("6")  # pages
    await console.screenshot("library.png")

    await page.get_by_role("link", name="Chat").click()
    answer, snapshots = await _ask(page, QUESTION)
    # streamed: the text grew in several steps, each a prefix of the next, to the answer
    assert len(snapshots) >= 4, snapshots
    assert all(b.startswith(a.rstrip("[")) for a, b in zip(snapshots, snapshots[1:], strict=False))
    assert snapshots[-1].replace("\n", " ").strip() == ANSWER
    await expect(answer.locator(".sources li")).to_have_count(1)
    cited = await answer.locator(".sources li").inner_text()  # "[1] handbook.pdf, pp. 3–4"
    found = re.search(r"handbook\.pdf, pp?\. (\d+)(?:–(\d+))?", cited)
    assert found, cited
    first, last = int(found[1]), int(found[2] or found[1])
    assert first <= FACT_PAGE <= last, cited
    await console.screenshot("chat.png")

    popups = await _serve_pdf_popups(console)
    citation = answer.get_by_role("button", name=re.compile(r"Source 1: handbook\.pdf"))
    async with page.expect_popup() as opened:
        await citation.first.click()
    tab = await opened.value
    await tab.wait_for_url(re.compile(re.escape(console.s3_url)))
    assert tab.url.endswith(f"#page={first}"), tab.url
    assert popups and popups[0]["status"] == 200 and popups[0]["head"] == b"%PDF-", popups
    assert popups[0]["type"] == "application/pdf"

    # a follow-up in the same conversation, which survives a reload
    conversation = re.search(r"#/chat/([0-9a-f-]{36})$", page.url)
    assert conversation, page.url
    await _ask(page, "Does it need a form?")
    await expect(page.get_by_text(f"Searched for: {REWRITTEN}")).to_be_visible()
    await expect(page.locator(".conversations li")).to_have_count(1)
    await page.reload()
    await expect(page.locator("li.turn")).to_have_count(4)
    await expect(page.locator("li.turn.assistant .cite").first).to_be_visible()


async def test_large_file_goes_straight_to_s3_and_completes(
    console: Console, tmp_path: Path
) -> None:
    """Above the API's 4 MiB the console asks for a presigned POST and sends the file to S3
    itself (moto here), across origins, under the console's CSP."""
    page = console.page
    big = tmp_path / "travel-policy.pdf"
    big.write_bytes(_large_pdf(4 * 1024 * 1024 + 200_000))
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await console.open("#/library")
    await console.upload(big)
    row = console.row("travel-policy.pdf")
    await expect(row).to_have_attribute("data-status", "completed", timeout=PROCESSED)
    assert any(url.endswith("/v1/uploads") for url in posts), posts
    assert any(url.startswith(console.s3_url) for url in posts), posts
    assert not any(url.endswith("/v1/documents") for url in posts), posts


async def test_library_edits_metadata_filters_reprocesses_and_deletes(
    console: Console, stack: StackProcess, tmp_path: Path
) -> None:
    page = console.page
    pdf = tmp_path / "benefits.pdf"
    pdf.write_bytes(_pdf(title="Benefits guide", fact_page=None, pages=2))
    await console.open("#/library")
    await console.upload(pdf)
    row = console.row("benefits.pdf")
    await expect(row).to_have_attribute("data-status", "completed", timeout=PROCESSED)
    document_id = await row.get_attribute("data-document-id")

    await row.get_by_role("button", name="Edit benefits.pdf").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("group", name="Access groups")).to_contain_text(
        "Everyone in your organisation"
    )  # the API reports `access: []`
    await dialog.get_by_role("button", name="Add a field").click()
    await dialog.get_by_label("Field 1", exact=True).fill("department")
    await dialog.get_by_label("Value 1", exact=True).fill("HR")
    await dialog.get_by_role("button", name="Add a field").click()
    await dialog.get_by_label("Field 2", exact=True).fill("year")
    await dialog.get_by_label("Kind 2", exact=True).select_option("number")
    await dialog.get_by_label("Value 2", exact=True).fill("twenty")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("alert")).to_have_text("year: not a number")
    await dialog.get_by_label("Value 2", exact=True).fill("2026")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(row.get_by_text("department=HR")).to_be_visible()
    if SCREENSHOTS:
        await row.get_by_role("button", name="Edit benefits.pdf").click()
        await console.screenshot("document.png")
        await page.keyboard.press("Escape")
    with httpx.Client(base_url=stack.info["upload_url"]) as http:
        stored = http.get(f"/v1/documents/{document_id}").raise_for_status().json()
    assert stored["metadata"] == {"department": "HR", "year": 2026}

    metadata_filter = page.get_by_role("searchbox", name="Metadata")
    await metadata_filter.fill("department=legal")
    await expect(row).to_be_hidden()
    await metadata_filter.fill("department=hr, year=2026")
    await expect(row).to_be_visible()
    await page.get_by_label("Status").select_option("failed")
    await expect(row).to_be_hidden()
    await page.get_by_label("Status").select_option("")
    await expect(row).to_be_visible()

    # The row passes through queued/processing for as long as one small PDF takes (tens of
    # ms on an idle stack), too briefly to assert on: a new processing time says the
    # reprocess ran, and the row shows where it ended.
    with httpx.Client(base_url=stack.info["upload_url"]) as http:
        before = http.get(f"/v1/documents/{document_id}").json()["processed_at"]
        await row.get_by_role("button", name="Reprocess benefits.pdf").click()
        deadline = time.monotonic() + PROCESSED / 1000
        while True:
            after = http.get(f"/v1/documents/{document_id}").json()
            if after["status"] == "completed" and after["processed_at"] != before:
                break
            assert time.monotonic() < deadline, f"the reprocess did not complete: {after}"
            await asyncio.sleep(0.2)
    await expect(row).to_have_attribute("data-status", "completed", timeout=PROCESSED)

    page.once("dialog", lambda d: d.accept())
    await row.get_by_role("button", name="Delete benefits.pdf").click()
    await expect(row).to_have_count(0)
    with httpx.Client(base_url=stack.info["upload_url"]) as http:
        assert http.get(f"/v1/documents/{document_id}").status_code == 404


async def test_access_groups_are_edited_where_the_api_reports_them(
    console: Console, stack: StackProcess, tmp_path: Path
) -> None:
    """Access groups (the API's `access`, issue 14): added and removed in the dialog, kept
    by the API; a bad group name is refused before anything is sent. The local caller is
    an admin, so it may restrict a document to a group it is not in."""
    page = console.page
    pdf = tmp_path / "access.pdf"
    pdf.write_bytes(_pdf(title="Access policy", fact_page=None, pages=1))
    await console.open("#/library")
    await console.upload(pdf)
    row = console.row("access.pdf")
    await expect(row).to_have_attribute("data-status", "completed", timeout=PROCESSED)
    document_id = await row.get_attribute("data-document-id")

    def stored_access() -> list[str]:
        with httpx.Client(base_url=stack.info["upload_url"]) as http:
            document = http.get(f"/v1/documents/{document_id}").raise_for_status().json()
        return list(document["access"])

    await row.get_by_role("button", name="Edit access.pdf").click()
    dialog = page.get_by_role("dialog")
    group = dialog.get_by_role("group", name="Access groups")
    await expect(group.get_by_text("Everyone in your organisation", exact=True)).to_be_visible()
    await group.get_by_label("Group name").fill("not valid!")
    await group.get_by_role("button", name="Add group").click()
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("not valid!")
    await group.get_by_role("button", name="Remove group not valid!").click()
    await group.get_by_label("Group name").fill("hr-team")
    await group.get_by_role("button", name="Add group").click()
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(row.get_by_role("list", name="Access groups")).to_contain_text("hr-team")
    assert stored_access() == ["hr-team"]

    await row.get_by_role("button", name="Edit access.pdf").click()
    await group.get_by_role("button", name="Remove group hr-team").click()
    await expect(group.get_by_text("Everyone in your organisation", exact=True)).to_be_visible()
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(row.get_by_role("list", name="Access groups")).to_have_count(0)
    assert stored_access() == []


async def _record_focus_when_dialog_leaves(page: Page) -> None:
    """Note in ``window.__focusWhenDialogLeft`` the focused element's label at the moment the
    open dialog is removed: a MutationObserver's callback runs in the same task as the
    removal, before the browser paints or runs anything deferred to after paint."""
    await page.evaluate(
        """() => {
            const dialog = document.querySelector("dialog[open]");
            const observer = new MutationObserver(() => {
                if (dialog.isConnected) return;
                const el = document.activeElement;
                window.__focusWhenDialogLeft = el && (el.getAttribute("aria-label") || el.tagName);
                observer.disconnect();
            });
            observer.observe(document.body, {childList: true, subtree: true});
        }"""
    )


async def choose_with_keyboard(page: Page) -> FileChooser:
    """Space on the focused file input opens the chooser. Headless Chromium on a loaded
    machine sometimes drops the first key event's activation; a user would press again,
    so one more press is allowed — with the input still focused, never elsewhere."""
    for attempt in range(2):
        try:
            async with page.expect_file_chooser(timeout=10_000) as chooser:
                await page.keyboard.press("Space")
            return await chooser.value
        except PlaywrightTimeoutError:
            info = await focused(page)
            assert info["type"] == "file", f"focus left the file input: {info}"
            if attempt:
                raise
    raise AssertionError("unreachable")


async def test_keyboard_only(console: Console, tmp_path: Path) -> None:
    """Every step with the keyboard alone: skip link, navigation, choosing a file, editing
    metadata in the dialog, asking, opening a citation; focus is always visible."""
    page = console.page
    pdf = tmp_path / "keyboard.pdf"
    pdf.write_bytes(_pdf(title="Keyboard handbook"))
    await console.open()

    await page.keyboard.press("Tab")
    assert (await focused(page))["name"] == "Skip to content"
    await page.keyboard.press("Enter")
    assert (await focused(page))["id"] == "main"

    await page.keyboard.press("Shift+Tab")  # back into the header
    info = await tab_to(page, "Documents", backwards=True)
    assert info["outline"], info
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Documents")).to_be_visible()

    info = await tab_to(page, "choose files")
    assert info["type"] == "file" and info["outline"], info
    await (await choose_with_keyboard(page)).set_files(pdf)
    row = console.row("keyboard.pdf")
    await expect(row).to_have_attribute("data-status", "completed", timeout=PROCESSED)

    info = await tab_to(page, "Edit keyboard.pdf")
    assert info["outline"], info
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    assert (await focused(page))["inDialog"]
    await tab_to(page, "Add a field")
    await page.keyboard.press("Enter")
    await tab_to(page, "Field")
    await page.keyboard.type("team")
    await page.keyboard.press("Tab")  # kind: text
    await page.keyboard.press("Tab")
    await page.keyboard.type("payroll")
    await tab_to(page, "Save")
    await _record_focus_when_dialog_leaves(page)
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    # Focus is back on the opener by the time the dialog leaves the page, not a frame later
    # (a screen reader would otherwise land on <body> in between).
    assert await page.evaluate("window.__focusWhenDialogLeft") == "Edit keyboard.pdf"
    assert (await focused(page))["name"] == "Edit keyboard.pdf"
    await expect(row.get_by_text("team=payroll")).to_be_visible()

    await tab_to(page, "Chat", backwards=True)
    await page.keyboard.press("Enter")
    info = await tab_to(page, "Your question")
    assert info["tag"] == "textarea" and info["outline"], info
    await page.keyboard.type(QUESTION)
    await page.keyboard.press("Enter")
    answer = page.locator("li.turn.assistant").last
    await expect(answer.locator(".meta")).to_be_visible(timeout=30_000)
    assert (await focused(page))["id"] == "question"  # ready for the next question
    popups = await _serve_pdf_popups(console)
    info = await tab_to(page, "Source 1:", backwards=True)
    assert info["outline"], info
    async with page.expect_popup() as opened:
        await page.keyboard.press("Enter")
    tab = await opened.value
    await tab.wait_for_url(re.compile(re.escape(console.s3_url)))
    assert popups and popups[-1]["head"] == b"%PDF-"


async def _check_axe(page: Page, view: str) -> None:
    violations = await axe_violations(page, impacts=("critical", "serious"))
    assert violations == [], f"{view}: {json.dumps(violations, indent=1)}"


async def test_accessibility_no_critical_or_serious_violations(
    browser: Browser, stack: StackProcess, tmp_path: Path
) -> None:
    """axe-core over every view, in both languages, with content on screen."""
    for locale, chat, library in (("en-US", "Chat", "Documents"), ("zh-TW", "問答", "文件庫")):
        context = await browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
        page = await context.new_page()
        problems = PageProblems()
        problems.watch(page)
        await page.goto(stack.info["console_url"])
        await expect(page.get_by_role("link", name=chat)).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == (
            "en" if locale == "en-US" else "zh-Hant"
        )
        await _check_axe(page, f"{locale} chat, empty")
        await page.get_by_role("textbox").fill(
            "病假需要醫師證明嗎？" if locale == "zh-TW" else QUESTION
        )
        await page.get_by_role("textbox").press("Enter")
        await expect(page.locator("li.turn.assistant .meta")).to_be_visible(timeout=30_000)
        await _check_axe(page, f"{locale} chat, answered")
        if locale == "zh-TW" and SCREENSHOTS:
            await page.screenshot(path=str(Path(SCREENSHOTS) / "chat-zh-hant.png"))

        await page.get_by_role("link", name=library).click()
        await expect(page.locator("tbody tr").first).to_be_visible()
        await _check_axe(page, f"{locale} library")
        await page.locator("tbody tr th button").first.click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await _check_axe(page, f"{locale} document dialog")
        await context.close()
        assert problems.messages == []

    # the sign-in view: a stack that wants a pasted token
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()

    async def token_mode(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        await route.fulfill(response=response, json={**body, "auth": {"mode": "token"}})

    await page.route("**/config.json", token_mode)
    await page.goto(stack.info["console_url"])
    await expect(page.get_by_role("heading", name="Sign in to docpipe")).to_be_visible()
    await _check_axe(page, "sign-in")
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / "sign-in.png"))
    await context.close()
