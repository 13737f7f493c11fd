"""Headless Chromium for browser tests: Debian's own build, driven by Playwright's sync API.

Playwright's bundled browsers would need `playwright install` (a download at test time); Debian's
`chromium` package is installed by `scripts/test` as root instead. A missing browser fails the
test with the fix in the message, so browser tests can never pass by being skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the `with` block (or a fixture's lifetime)."""
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: browser tests need Debian's chromium; "
            "run scripts/test as root once, or: apt-get install chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context, so cookies and storage never leak between tests."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's accessibility violations on the page as loaded now (empty means none)."""
    violations: list[dict[str, Any]] = Axe().run(page).response["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    """One line a violation, for an assertion message a reader can act on."""
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(map(str, node["target"])) for node in v["nodes"])
        for v in violations
    )
