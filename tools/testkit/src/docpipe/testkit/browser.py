"""Headless Chromium for the console's browser tests: Debian's build (Playwright's own
browser download does not work here), driven by Playwright; axe-core from the console's
npm packages for the accessibility checks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, Playwright

from docpipe.devstack.console import CONSOLE_DIR

__all__ = ["AXE", "CHROMIUM_ARGS", "PageProblems", "axe_violations", "launch_chromium", "tab_to"]

AXE = CONSOLE_DIR / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.1 A and AA, and axe's best practices
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
#: No network but loopback here: Chromium's own background traffic is switched off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "the browser tests need Debian's chromium (make browser-tools)"
    return path


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class PageProblems:
    """Errors a page reported: uncaught exceptions, console errors (CSP violations are)."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text}")


async def axe_violations(page: Page, *, impacts: tuple[str, ...]) -> list[dict[str, Any]]:
    """axe-core's violations of the given impacts on the page as it is now.

    The script is evaluated through the DevTools protocol, which the page's CSP does not
    govern (an injected <script> would be refused, as it should be).
    """
    assert AXE.exists(), "axe-core is missing: make browser-tools (npm ci in console/)"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text("utf-8") + "\n;undefined")
    violations: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }""",
        AXE_TAGS,
    )
    return [v for v in violations if v["impact"] in impacts]


async def focused(page: Page) -> dict[str, Any]:
    """What has the keyboard focus: tag, id, accessible-ish name, and its visible outline."""
    info: dict[str, Any] = await page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el) return {tag: null};
            const label = el.id ? document.querySelector(`label[for="${el.id}"]`) : null;
            const name = el.getAttribute("aria-label") || (label && label.textContent)
                || el.textContent || el.getAttribute("placeholder") || "";
            const ring = el.matches(".visually-hidden") && label ? label : el;
            const style = getComputedStyle(ring);
            return {tag: el.tagName.toLowerCase(), id: el.id, name: name.trim(),
                    type: el.getAttribute("type"), inDialog: !!el.closest("dialog"),
                    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0};
        }"""
    )
    return info


async def tab_to(
    page: Page, name: str, *, limit: int = 60, backwards: bool = False
) -> dict[str, Any]:
    """Press Tab (Shift+Tab) until the focused element's name contains ``name``.

    The ``main`` landmark is skipped: the console focuses it after a navigation (a
    landmark is not a Tab stop) and its name is the text of everything inside it.
    """
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        await page.keyboard.press(key)
        info = await focused(page)
        if info.get("tag") != "main" and name in info.get("name", ""):
            return info
    raise AssertionError(f"{name!r} is not reachable with {key} in {limit} presses")
