"""The web console's weight and first load: bytes shipped, and how soon the first view is
on screen in headless Chromium with an empty cache.

The built files (console/dist) are served by the local stack's console server (the same
headers, a config.json); the APIs are not running, so the figure is the console's own
(its first view does not wait for them). Each run is a fresh browser context (empty
cache). Network conditions are emulated with the DevTools protocol
(Network.emulateNetworkConditions): none (loopback), "4G" (40 ms, 9 Mbit/s) and
"Fast 3G" (150 ms, 1.6 Mbit/s down, 750 kbit/s up, Chrome DevTools' preset).

Measured per run, from navigation start (performance.timeOrigin): the HTML's responseEnd,
first contentful paint (the static "Loading…" text), and **app ready**: the view's heading
rendered by the app, after the script and config.json have loaded.

Run: ``uv run python -m bench.console_load [--runs 15]``. Needs Chromium (make
browser-tools). Writes bench/results/console_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
from pathlib import Path
from typing import Any

from bench._conditions import (
    conditions,
    percentiles,
    print_conditions,
    print_table,
    write_results,
)

NETWORKS: dict[str, dict[str, float] | None] = {
    "loopback": None,
    "4G (40 ms, 9 Mbit/s)": {"latency": 40, "down": 9_000_000 / 8, "up": 9_000_000 / 8},
    "Fast 3G (150 ms, 1.6 Mbit/s)": {"latency": 150, "down": 1_600_000 / 8, "up": 750_000 / 8},
}


def bundle_sizes(dist: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        data = path.read_bytes()
        rows.append(
            {
                "file": path.relative_to(dist).as_posix(),
                "bytes": len(data),
                "gzip bytes": len(gzip.compress(data, compresslevel=9)),
            }
        )
    return rows


async def _one_load(browser: Any, url: str, network: dict[str, float] | None) -> dict[str, float]:
    context = await browser.new_context()
    page = await context.new_page()
    if network:
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": network["latency"],
                "downloadThroughput": network["down"],
                "uploadThroughput": network["up"],
            },
        )
    await page.goto(url, wait_until="commit")
    await page.wait_for_selector("main h1")
    ready = await page.evaluate("performance.now()")
    timing = await page.evaluate(
        """() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const fcp = performance.getEntriesByName("first-contentful-paint")[0];
            return {html: nav.responseEnd, fcp: fcp ? fcp.startTime : NaN};
        }"""
    )
    await context.close()
    return {"html_ms": timing["html"], "fcp_ms": timing["fcp"], "ready_ms": ready}


async def measure(runs: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from docpipe.devstack.console import CONSOLE_DIR, ConsoleServer, console_config
    from docpipe.devstack.embedded import free_port
    from docpipe.testkit.browser import launch_chromium

    port = free_port()
    api = f"http://127.0.0.1:{free_port()}"
    server = ConsoleServer(
        port=port,
        config=console_config(upload_url=api, query_url=api, auth_mode="none"),
        connect=[api],
    )
    server.start()
    results: dict[str, Any] = {"sizes": bundle_sizes(CONSOLE_DIR / "dist"), "loads": {}}
    try:
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            for name, network in NETWORKS.items():
                samples = [await _one_load(browser, server.url, network) for _ in range(runs)]
                results["loads"][name] = {
                    key: percentiles([s[key] for s in samples], (50, 95))
                    for key in ("html_ms", "fcp_ms", "ready_ms")
                }
            await browser.close()
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = asyncio.run(measure(args.runs))
    sizes = results["sizes"]
    js = [r for r in sizes if r["file"].endswith(".js")]
    print_table("console/dist", sizes)
    print(
        f"\nJavaScript: {sum(r['bytes'] for r in js)} bytes, "
        f"{sum(r['gzip bytes'] for r in js)} gzipped (budget 307200)"
    )
    rows = [
        {
            "network": name,
            "HTML p50 ms": figures["html_ms"]["p50"],
            "first paint p50 ms": figures["fcp_ms"]["p50"],
            "app ready p50 ms": figures["ready_ms"]["p50"],
            "app ready p95 ms": figures["ready_ms"]["p95"],
        }
        for name, figures in results["loads"].items()
    ]
    print_table(f"first load, empty cache ({args.runs} runs each)", rows)
    facts = conditions(runs=args.runs, browser="Debian chromium, headless")
    print_conditions(facts)
    write_results("console_load", {**results, "conditions": facts})


if __name__ == "__main__":
    main()
