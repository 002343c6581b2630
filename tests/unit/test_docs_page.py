"""The /docs viewer's committed files are the pinned npm release's, and stay small."""
from __future__ import annotations

import json

from chalicelib.api import docs_views
from infra.docs_viewer import DEST, FILES, INTEGRITY, MANIFEST, PACKAGE, VERSION, sha256
from tests.http_client import GatewayClient

# What the viewer adds to the Lambda package (uncompressed); Swagger UI 5.35.0 is ~1.9 MB.
SIZE_BUDGET = 2_200_000


def test_viewer_files_match_the_pinned_release():
    manifest = json.loads(MANIFEST.read_text())
    assert (manifest["package"], manifest["version"], manifest["integrity"]) == \
        (PACKAGE, VERSION, INTEGRITY)
    assert manifest["files"] == {name: sha256(DEST / name) for name in FILES}


def test_viewer_stays_within_its_size_budget():
    total = sum((DEST / name).stat().st_size for name in docs_views.ASSETS)
    assert total < SIZE_BUDGET, total


def test_docs_routes_serve_the_page_and_only_listed_files():
    import app as app_module
    client = GatewayClient(app_module.app)
    resp = client.gateway.handle_request("GET", "/docs", {"host": "localhost"}, b"")
    assert resp["statusCode"] == 200 and "swagger-ui-bundle.js?v=" in resp["body"]
    assert resp["headers"]["Content-Security-Policy"] == docs_views.CSP
    resp = client.gateway.handle_request("GET", "/docs/docs.js", {"host": "localhost"}, b"")
    assert resp["statusCode"] == 200 and "SwaggerUIBundle" in resp["body"]
    status, body = client.get("/docs/MANIFEST.json")
    assert status == 404 and body["code"] == 40400
