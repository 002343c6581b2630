"""The /docs page: Swagger UI renders the API's own description in Chromium, under its own
CSP, with no console error (a CSP violation is one) and nothing fetched from elsewhere."""
from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import expect

from chalicelib.api.openapi import OPERATIONS
from tests.integration.engine_helpers import app_runtime


@pytest.fixture
def served(db_clean, stack_env, monkeypatch):
    with app_runtime(monkeypatch, stack_env, 1) as rt:
        yield rt


def test_docs_page_renders_every_operation(served, open_page):
    requests: list[str] = []
    page, shot, errors = open_page(f"{served.url}/docs")
    page.on("request", lambda r: requests.append(r.url))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("async-task platform")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(OPERATIONS))
    # A rule between query parameters is shown: /task/get's exploded object, oneOf.
    page.locator("#operations-tasks-get_task_get .opblock-summary").click()
    expect(page.locator("#operations-tasks-get_task_get")).to_contain_text("params")
    expect(page.locator("#operations-tasks-get_task_get")).to_contain_text("40400")
    shot("docs")
    page.reload()
    expect(blocks).to_have_count(len(OPERATIONS))
    assert not errors, errors
    assert all(u.startswith(served.url) or u.startswith("data:") for u in requests), requests


def test_docs_has_its_own_csp_and_the_task_center_keeps_its_own(served):
    with urllib.request.urlopen(f"{served.url}/docs") as resp:
        docs_csp = resp.headers["Content-Security-Policy"]
    with urllib.request.urlopen(f"{served.url}/ui/") as resp:
        ui_csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in docs_csp and "unsafe-eval" not in docs_csp
    assert "connect-src 'self'" in docs_csp and "default-src 'none'" in docs_csp
    assert ui_csp.startswith("default-src 'self';") and "unsafe" not in ui_csp
