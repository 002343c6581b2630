"""Headless Chromium (Debian's package, driven by Playwright) against the running stack.

Debian's `chromium` (and a Chinese font) is installed with apt-get on first use, by the
helper MariaDB's install uses; Playwright's own browser download (`playwright install`) is
never used. Screenshots go to test-artifacts/browser/ (gitignored); each test prints where
it saved them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
# a 1.6 MB Chinese font, so that screenshots show the labels rather than empty boxes
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
APT_PACKAGES = ("chromium", "fonts-wqy-microhei")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
WAIT_MS = 60_000          # Playwright's waits poll up to this; no test sleeps
# page.evaluate(OVERFLOWING): the visible elements reaching past the viewport's right edge
OVERFLOWING = """() => {
    const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll('body *')]
      .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > width + 0.5)
      .map((el) => el.tagName + '.' + el.className);
}"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    from infra.local.mariadb import ensure_apt_packages
    expect.set_options(timeout=WAIT_MS)
    ensure_apt_packages(APT_PACKAGES, ("chromium",), files=(CHROMIUM, CJK_FONT))
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class PageErrors(list):
    """Uncaught exceptions and console errors (a CSP violation is one) seen by a page."""


@pytest.fixture
def open_page(browser: Any, request: pytest.FixtureRequest):
    """open_page(url, width=...) -> (page, shot, errors): shot(name) saves a screenshot."""
    contexts = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _open(url: str, width: int = 1024, height: int = 800) -> tuple[Any, Any, PageErrors]:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      accept_downloads=True, locale="zh-CN")
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        errors = PageErrors()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(f"console: {msg.text}")
                if msg.type == "error" and "status of 4" not in msg.text else None)
        page.goto(url)

        def shot(name: str) -> Path:
            path = ARTIFACTS / f"{request.node.name}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot: {path.relative_to(ROOT)}")
            return path
        return page, shot, errors

    yield _open
    for context in contexts:
        context.close()
