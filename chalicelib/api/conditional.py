"""ETag / 304 Not Modified for the polled reads (/task/get, /task/list).

The tag is a weak validator computed from what the answer is made of, before it is built:
the station, the route and its parameters, the task rows (every column the item shows), the
computed ETA and the link epoch. A poll whose tag matches `If-None-Match` is answered 304
with no body, without presigning links or serializing the page: the database read is the
one cost left (about 1 ms); the transfer, the JSON and the page's re-render go.

- Station-scoped: the station is part of the hashed material, so two stations never share
  a tag even for equal data, and the answers say `Cache-Control: private, no-cache` and
  `Vary: Authorization` (a shared cache must neither serve one caller's answer to another
  nor reuse it without asking).
- Links: an item's presigned links are re-signed by each API instance every TTL / 2 and
  stay valid ≥ TTL / 2 from when they were served (adapters/aws.FileStore.link). The epoch
  floor(now / (TTL / 2)) is hashed in, so a client keeps a cached answer at most until the
  epoch turns, i.e. less than TTL / 2 after it was served: its links are still valid, and
  every API instance gives the same tag for the same data.
- Weak (W/"…"): the tag names the data, not the bytes (a gateway may compress them).
  `If-None-Match` is compared weakly, as RFC 9110 says for it; `*` matches any answer.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Iterable

from chalice import Response

from chalicelib.api.http import envelope
from chalicelib.config import Settings

# Bump when the item's shape changes, so that tags issued before a deploy stop matching.
ETAG_FORMAT = "task-center-1"
CACHE_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}


def link_epoch(settings: Settings, now: float | None = None) -> int:
    half = max(1, settings.link_ttl_seconds // 2)
    return int((time.time() if now is None else now) // half)


def etag_of(settings: Settings, station_id: str, route: str, *parts: Any) -> str:
    """A weak tag of `parts` (reprs of plain values, rows, parameters) for the station."""
    material = repr((ETAG_FORMAT, station_id, route, link_epoch(settings), parts))
    return 'W/"' + hashlib.blake2b(material.encode("utf-8", "surrogatepass"),
                                   digest_size=16).hexdigest() + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def matches(request: Any, tag: str) -> bool:
    """Does the request's If-None-Match name `tag` (weak comparison)?"""
    header = (getattr(request, "headers", None) or {}).get("if-none-match")
    if not header:
        return False
    wanted = _opaque(tag)
    candidates: Iterable[str] = header.split(",")
    return any(c.strip() == "*" or _opaque(c) == wanted for c in candidates)


def not_modified(tag: str) -> Response:
    return Response(body="", status_code=304, headers={"ETag": tag, **CACHE_HEADERS})


def tagged(data: Any, tag: str) -> Response:
    response = envelope(data)
    response.headers.update({"ETag": tag, **CACHE_HEADERS})
    return response
