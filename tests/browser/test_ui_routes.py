"""The page's routes through the gateway: only whitelisted files, right types and caching."""
from __future__ import annotations

import json

import pytest
from chalice.config import Config
from chalice.local import LocalGateway

from chalicelib.api import ui_views


@pytest.fixture(scope="module")
def gateway() -> LocalGateway:
    import app as app_module
    return LocalGateway(app_module.app, Config(chalice_stage="test"))


def get(gateway: LocalGateway, path: str) -> dict:
    return gateway.handle_request("GET", path, {"host": "localhost"}, b"")


def test_index_names_its_assets_by_content_hash(gateway):
    resp = get(gateway, "/ui/")
    assert resp["statusCode"] == 200
    headers = resp["headers"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert f'src="app.js?v={ui_views.version()}"' in resp["body"]
    assert f'href="app.css?v={ui_views.version()}"' in resp["body"]
    assert "{{" not in resp["body"]


def test_ui_without_slash_redirects_relative(gateway):
    resp = get(gateway, "/ui")
    assert resp["statusCode"] == 302 and resp["headers"]["Location"] == "ui/"


@pytest.mark.parametrize("name,kind", [("app.js", "text/javascript"), ("app.css", "text/css")])
def test_assets_are_served_with_their_type(gateway, name, kind):
    resp = get(gateway, f"/ui/{name}")
    assert resp["statusCode"] == 200
    assert resp["headers"]["Content-Type"] == f"{kind}; charset=utf-8"
    assert resp["headers"]["Cache-Control"] == "public, max-age=86400"
    assert resp["body"] == (ui_views.UI_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["app.py", "..%2Fapp.py", "%2E%2E", ".", "index.htm",
                                  "APP.JS", "app.js%00"])
def test_anything_else_is_a_404_envelope(gateway, name):
    resp = get(gateway, f"/ui/{name}")
    assert resp["statusCode"] == 404
    assert json.loads(resp["body"])["code"] == 40400


def test_the_whitelist_is_the_folder():
    on_disk = {p.name for p in ui_views.UI_DIR.iterdir() if p.is_file()}
    assert on_disk == set(ui_views.ASSETS)
