"""Client for the product center's "create product" API, the slow third party of copy tasks.

Contract
--------
``POST /product/create`` with JSON body
``{"shop_id": int, "source_product_id": int, "name": str, "price_cents": int}`` and header
``Idempotency-Key: <task_id>-<detail_seq>`` (required; missing -> 400).

- 200 ``{"code": 0, "msg": "", "data": {"product_id": int}}``: created. For a repeated
  idempotency key the FIRST result for that key is returned again (same product_id) and
  nothing is created again, so a retry after a lost answer is always safe.
- 400/404/409/422 ``{"code": <nonzero>, "msg": "<reason>"}``: permanent failure of this item;
  the downstream's ``msg`` is kept for the user's error report.
- 429 and 5xx: transient, retried (a numeric Retry-After is honoured, capped by the backoff
  ceiling). No answer within the read timeout, or a broken connection, is transient too.
- This client also treats 408 and garbled answers as transient, and a 200 whose ``code`` is
  nonzero as a permanent refusal.

Errors: ``PermanentItemError`` (do not retry this item), ``DownstreamUnavailable`` (retries
exhausted; the engine leaves the item for a later attempt); both are ``ProductCenterError``.
"""
from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from chalicelib.adapters.http_pool import HttpPool, ProtocolError
from chalicelib.errors import PlatformError, Unavailable

log = logging.getLogger(__name__)
CREATE_PATH = "/product/create"


class ProductCenterError(PlatformError):
    """Root of the product center errors (in the platform's rooted hierarchy)."""


class PermanentItemError(ProductCenterError):
    """The product center refused this item (4xx other than 429); retrying will not help."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(f"HTTP {status} code {code}: {msg}")
        self.status, self.code, self.msg = status, code, msg


class DownstreamUnavailable(ProductCenterError, Unavailable):
    """Every attempt failed transiently; the same item may well succeed later."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Transient(Exception):
    """One attempt failed in a way worth retrying; never raised out of this module."""

    def __init__(self, reason: str, retry_after_s: float | None = None,
                 throttled: bool = False):
        super().__init__(reason)
        self.reason, self.retry_after_s, self.throttled = reason, retry_after_s, throttled


@dataclass(frozen=True)
class CreateProduct:
    shop_id: int
    source_product_id: int
    name: str
    price_cents: int

    def body(self) -> bytes:
        return create_body(self.shop_id, self.source_product_id, self.name, self.price_cents)


# One encoder for every body (json.dumps with options builds a new one per call).
_STR = json.JSONEncoder(ensure_ascii=False).encode


def create_body(shop_id: int, source_product_id: int, name: str, price_cents: int) -> bytes:
    """The create request's body: compact JSON, UTF-8 (what json.dumps with separators=(",",
    ":"), ensure_ascii=False gives), built without a JSONEncoder or an object per call (a
    copy builds 1,000 of them per chunk)."""
    if type(shop_id) is int and type(source_product_id) is int and type(price_cents) is int:
        return (f'{{"shop_id":{shop_id},"source_product_id":{source_product_id},'
                f'"name":{_STR(name)},"price_cents":{price_cents}}}').encode()
    return json.dumps({"shop_id": shop_id, "source_product_id": source_product_id, "name": name,
                       "price_cents": price_cents}, separators=(",", ":"),
                      ensure_ascii=False).encode()


# The product center's usual success answer, whitespace as any JSON writer puts it: read
# with one match instead of json.loads (about a tenth of a copy worker's CPU at zero
# latency). Anything else, or a number JSON would not accept, goes through json.loads.
_CREATED = re.compile(rb'\{~"code"~:~0~,~"msg"~:~""~,~"data"~:~\{~"product_id"~:~'
                      rb'(0|-?[1-9][0-9]*)~\}~\}~'.replace(b"~", rb"[ \t\n\r]*"))


class Limiter(Protocol):
    """What the client asks of a rate budget: a token before every attempt, and the
    attempt's outcome after it ("ok", "throttled" for a 429, "error"), so that an adaptive
    budget (chalicelib/service/budget.py) can follow the product center's health."""

    def acquire(self) -> None: ...

    def observe(self, kind: str, latency_s: float) -> None: ...


class RateLimiter:
    """Thread-safe token bucket of one process; ``acquire()`` blocks until the caller's
    token is due. (The platform's shared budget is chalicelib/service/budget.py.)

    A caller reserves its token under the lock (the balance may go negative) and sleeps
    outside it until that token exists, so waiters are served in order and sleep
    inaccuracy does not accumulate. The bucket starts full. ``rate_per_s <= 0`` = unlimited.
    """

    def __init__(self, rate_per_s: float, burst: float | None = None):
        self.rate_per_s = rate_per_s
        # Default burst: a tenth of a second's worth (at least 1).
        self.burst = burst if burst is not None else max(1.0, rate_per_s / 10)
        if self.burst <= 0:
            raise ValueError("burst must be positive")
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate_per_s <= 0

    def acquire(self) -> None:
        if self.unlimited:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)

    def observe(self, kind: str, latency_s: float) -> None:
        """A fixed rate does not adapt."""


class ProductCenterClient:
    """Creates products with retries, a connection pool shared by threads, and a rate budget.

    Thread-safe: one instance per process. Every attempt, retries included, takes a token
    from ``rate_limiter``; ``on_retry(attempt, reason)`` is called before each retry's
    backoff (attempt is the 1-based number of the attempt that failed), e.g. for metrics;
    ``on_latency(seconds)`` after each HTTP attempt that got an answer or failed.
    """

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, connect_timeout_s: float = 2.0,
                 max_attempts: int = 4, backoff_base_s: float = 0.1, backoff_max_s: float = 2.0,
                 pool_size: int = 10, rate_limiter: Limiter | None = None,
                 on_retry: Callable[[int, str], None] | None = None,
                 on_latency: Callable[[float], None] | None = None):
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._path = urlsplit(base_url).path.rstrip("/") + CREATE_PATH
        # Callers beyond pool_size wait for a free connection instead of opening more.
        self._pool = HttpPool(base_url, maxsize=pool_size, connect_timeout_s=connect_timeout_s,
                              read_timeout_s=timeout_s)
        self._limiter = rate_limiter
        self._on_retry = on_retry
        self._on_latency = on_latency
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._timeouts_s = (connect_timeout_s, timeout_s)

    def create_product(self, item: CreateProduct, idempotency_key: str) -> int:
        """Create the product (or get back the one this key created) and return its id."""
        return self.create(item.body(), idempotency_key)

    def create(self, body: bytes, idempotency_key: str) -> int:
        """create_product() with the body already encoded (CreateProduct.body() or a
        create_body() result): a copy encodes its chunk's bodies when it prepares them."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        try:
            # The common case is one attempt: no retry machinery on that path.
            return self._attempt(body, headers)
        except _Transient as exc:
            return self._retry(body, headers, exc)

    def _retry(self, body: bytes, headers: dict[str, str], failed: _Transient) -> int:
        """Attempts 2..max_attempts under the same key, each after its backoff."""
        for attempt in range(1, self._max_attempts):
            self._before_sleep(attempt, failed)
            time.sleep(self._wait(attempt, failed))
            try:
                return self._attempt(body, headers)
            except _Transient as exc:
                failed = exc
        raise DownstreamUnavailable(f"product center unavailable after {self._max_attempts}"
                                    f" attempt(s): {failed.reason}") from failed

    def worst_call_s(self, callers: int = 1) -> float:
        """The longest one create_product() can take with these settings: every attempt
        times out (connect + read), every backoff is the longest, and before each attempt
        the rate budget serves `callers` threads of this worker ahead of it (a limiter
        may say its own bound with `worst_wait_s(callers)`)."""
        bound = getattr(self._limiter, "worst_wait_s", None)
        rate = getattr(self._limiter, "rate_per_s", 0) or 0
        wait = bound(callers) if bound is not None else (callers / rate if rate > 0 else 0.0)
        per_attempt = sum(self._timeouts_s) + wait
        return self._max_attempts * per_attempt + (self._max_attempts - 1) * self._backoff_max_s

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> ProductCenterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _attempt(self, body: bytes, headers: dict[str, str]) -> int:
        """One attempt under the rate budget, its outcome reported back to the budget."""
        if self._limiter is None:
            return self._call(body, headers)
        self._limiter.acquire()
        started, kind = time.monotonic(), "ok"
        try:
            return self._call(body, headers)
        except _Transient as exc:
            kind = "throttled" if exc.throttled else "error"
            raise
        finally:
            self._limiter.observe(kind, time.monotonic() - started)

    def _call(self, body: bytes, headers: dict[str, str]) -> int:
        started = time.monotonic()
        try:
            resp = self._pool.post(self._path, body, headers)
        except TimeoutError as exc:         # no connection, or no answer, in time
            raise _Transient(f"timeout: {exc}") from exc
        except (OSError, ProtocolError) as exc:
            raise _Transient(f"connection error: {exc}") from exc
        finally:
            if self._on_latency is not None:
                self._on_latency(time.monotonic() - started)
        status = resp.status
        if status == 200:
            created = _CREATED.fullmatch(resp.data)
            if created is not None:
                return int(created.group(1))
        doc = _json(resp.data)
        code = doc.get("code")
        if status == 200 and code == 0:
            product_id = (doc.get("data") or {}).get("product_id")
            if type(product_id) is int:
                return product_id
        msg = doc.get("msg")
        msg = msg if isinstance(msg, str) and msg else resp.data[:200].decode("utf-8", "replace")
        if status == 200 and code == 0:
            pass    # a 200 without a usable product id: garbled (below)
        elif status in (429, 408) or status >= 500:
            raise _Transient(f"HTTP {status}: {msg}", _retry_after(resp.headers.get("retry-after")),
                             throttled=status == 429)
        elif 400 <= status < 500 or (status == 200 and type(code) is int):
            # A 200 carrying a nonzero code is a refusal of the item as well.
            raise PermanentItemError(status, code if type(code) is int else status, msg)
        # Garbled or unexpected answers: retrying under the same key is safe.
        raise _Transient(f"unexpected answer HTTP {status}: {resp.data[:200]!r}")

    def _wait(self, attempt: int, exc: _Transient) -> float:
        """Retry-After when the server gave one (capped), otherwise full-jitter exponential
        backoff: uniform(0, min(max, base * 2^(attempt-1))), attempt = the one that failed."""
        if exc.retry_after_s is not None:
            return min(exc.retry_after_s, self._backoff_max_s)
        return random.uniform(0, min(self._backoff_max_s,
                                     self._backoff_base_s * 2 ** (attempt - 1)))

    def _before_sleep(self, attempt: int, exc: _Transient) -> None:
        if self._on_retry is None:
            return
        try:
            self._on_retry(attempt, exc.reason)
        except Exception:   # a broken metrics hook must not fail product creation
            log.exception("on_retry callback failed")


def _json(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _retry_after(value: str | None) -> float | None:
    """Seconds from a numeric Retry-After; HTTP-date forms fall back to the backoff."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
