"""The API page for frontend developers: GET /docs renders /openapi.json with Swagger UI.

Its files are chalicelib/docs_viewer/ (Swagger UI's dist files, pinned and checked against
MANIFEST.json by infra/docs_viewer.py, plus the page and its initializer). Only the names
in ASSETS are served. The page has its own CSP: scripts, styles, fetches and fonts from its
own origin only, images also as data: URLs (Swagger UI's icons); no inline script or style,
no eval (tests/browser/test_docs_page.py sees no violation). The task center's CSP
(ui_views.py) is unchanged.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from chalice import Response

from chalicelib import texts
from chalicelib.errors import NotFound

VIEWER_DIR = Path(__file__).resolve().parent.parent / "docs_viewer"
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
}
ASSET_NAMES = tuple(sorted(ASSETS))
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}


@functools.lru_cache(maxsize=None)
def _read(name: str) -> str:
    return (VIEWER_DIR / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def version() -> str:
    digest = hashlib.sha256()
    for name in ASSET_NAMES:
        digest.update(_read(name).encode())
    return digest.hexdigest()[:12]


def page() -> Response:
    body = _read("index.html").replace("{{version}}", version())
    return Response(body=body, status_code=200, headers={
        "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", **_HEADERS})


def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(texts.NO_SUCH_FILE())
    return Response(body=_read(name), status_code=200, headers={
        "Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400", **_HEADERS})
