"""The task center page: static files from chalicelib/ui, served by the app under /ui/.

Only the files named in ASSETS are served (a name is looked up, never joined to a path),
so no request can reach another file. The page's data comes from the public API with the
caller's station token; these routes need none, since the files hold no data.

`/ui` without its trailing slash is redirected to `ui/` (relative, so a stage prefix such as
/api/ui survives), because the page loads its assets and the API by relative URLs.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from chalice import Response

from chalicelib import texts
from chalicelib.errors import NotFound

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
INDEX = "index.html"
# name -> content type; the whole whitelist of files under /ui/
ASSETS: dict[str, str] = {
    INDEX: "text/html; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",         # login + API client (ETag)
    "tasks.js": "text/javascript; charset=utf-8",       # a task's row, failures panel
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "import.js": "text/javascript; charset=utf-8",      # the 订单导入 card
    "import.css": "text/css; charset=utf-8",
}
ASSET_NAMES = tuple(sorted(ASSETS))
# The page may talk to its own origin only; result files are plain navigations to S3.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# index.html is revalidated on every load and names its assets with a content hash
# (?v=...), so assets can be cached for a day without serving a stale page.
_NO_CACHE = "no-cache"
_ASSET_CACHE = "public, max-age=86400"


@functools.lru_cache(maxsize=None)
def _read(name: str) -> str:
    return (UI_DIR / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def version() -> str:
    digest = hashlib.sha256()
    for name in ASSET_NAMES:
        if name != INDEX:
            digest.update(_read(name).encode())
    return digest.hexdigest()[:12]


def _file(name: str, body: str, cache: str) -> Response:
    return Response(body=body, status_code=200,
                    headers={"Content-Type": ASSETS[name], "Cache-Control": cache,
                             **_SECURITY_HEADERS})


def index_page() -> Response:
    """index.html with its assets' version filled in."""
    return _file(INDEX, _read(INDEX).replace("{{version}}", version()), _NO_CACHE)


def index(request: Any) -> Response:
    path = (getattr(request, "context", None) or {}).get("path") or "/ui/"
    if not path.endswith("/"):
        return Response(body="", status_code=302,
                        headers={"Location": "ui/", "Cache-Control": _NO_CACHE})
    return index_page()


def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(texts.NO_SUCH_FILE())
    if name == INDEX:
        return index_page()
    return _file(name, _read(name), _ASSET_CACHE)
