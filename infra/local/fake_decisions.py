"""What the fake product center answers: its knobs (FakeConfig) and Center, which holds
all its state and makes every decision (creates, replays by idempotency key, injected
latency, 503s, 429s, hangs and rejections from a seeded RNG, so a fault pattern can be
replayed). The wire contract is documented in chalicelib/adapters/product_center.py; the
HTTP it is served over is infra/local/fake_http.py, its capacity model fake_capacity.py.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from infra.local.fake_capacity import Capacity, Windows
from infra.local.fake_http import Answer, Response

_HOLD = object()   # decision: leave the request unanswered, then close the connection


@dataclass(frozen=True)
class FakeConfig:
    latency_ms: float = 0.0           # asyncio.sleep before every create is decided
    error_rate: float = 0.0           # fraction answered 503
    timeout_rate: float = 0.0         # fraction held for timeout_hold_s, then closed unanswered
    timeout_hold_s: float = 30.0
    reject_every: int = 0             # source_product_id % N == 0 -> 422; 0 = off
    fail_first_n_per_key: int = 0     # deterministic faults: first N attempts of each key fail
    fail_status: int = 503            # status of those deterministic faults (429 or 5xx)
    retry_after_s: float | None = None  # Retry-After header on injected 429/5xx answers
    capacity_per_s: float = 0.0       # served at latency_ms; above it queued, then 429 (0 = off)
    capacity_queue_s: float = 0.25    # longest queueing before a 429 (infra/local/fake_capacity.py)
    seed: int = 0


FIELD_TYPES: dict[str, Callable[[Any], Any]] = {
    "latency_ms": float, "error_rate": float, "timeout_rate": float, "timeout_hold_s": float,
    "reject_every": int, "fail_first_n_per_key": int, "fail_status": int,
    "retry_after_s": float, "capacity_per_s": float, "capacity_queue_s": float, "seed": int}


def updated(cfg: FakeConfig, changes: dict[str, Any]) -> FakeConfig:
    """Partial update with type coercion; ValueError says what is wrong."""
    unknown = set(changes) - set(FIELD_TYPES)
    if unknown:
        raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {k: None if v is None and k == "retry_after_s" else FIELD_TYPES[k](v)
                             for k, v in changes.items()}
    new = replace(cfg, **clean)
    rates = (new.error_rate, new.timeout_rate)
    if min(rates) < 0 or sum(rates) > 1:
        raise ValueError("error_rate and timeout_rate must be fractions summing to <= 1")
    if min(new.latency_ms, new.timeout_hold_s, new.reject_every, new.fail_first_n_per_key,
           new.capacity_per_s, new.capacity_queue_s) < 0:
        raise ValueError("latency_ms, timeout_hold_s, reject_every, fail_first_n_per_key,"
                         " capacity_per_s, capacity_queue_s >= 0")
    if new.fail_status != 429 and not 500 <= new.fail_status <= 599:
        raise ValueError("fail_status must be 429 or a 5xx")
    return new


_FIELDS = (("shop_id", int), ("source_product_id", int), ("name", str), ("price_cents", int))
_COUNTERS = ("requests", "creates", "replays", "errors_5xx", "timeouts", "rejects", "throttled")


class Center:
    """All state and every decision. Touched only from the event-loop thread, so no locks."""

    def __init__(self, config: FakeConfig | None = None):
        self.config = config or FakeConfig()
        self.in_flight = 0
        self._next_id = 1_000_001   # keeps running across resets: an id is never reused
        self.reset()

    def reset(self) -> dict[str, int]:
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.results: dict[str, tuple[int, tuple[Any, ...]]] = {}   # key -> (id, payload)
        self.attempts: Counter[str] = Counter()
        self.creates_per_key: Counter[str] = Counter()
        self.max_in_flight = self.in_flight
        self._rng = random.Random(self.config.seed)   # same seed, same fault pattern
        self.windows = Windows()
        self._capacity = Capacity(self.config.capacity_per_s, self.config.capacity_queue_s)
        return self.stats()

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.config = updated(self.config, changes)
        if "seed" in changes:
            self._rng = random.Random(self.config.seed)
        self._capacity = Capacity(self.config.capacity_per_s, self.config.capacity_queue_s)
        return asdict(self.config)

    def stats(self) -> dict[str, int]:
        return {**self.counters,
                "max_creates_per_key": max(self.creates_per_key.values(), default=0),
                "in_flight": self.in_flight, "max_in_flight": self.max_in_flight}

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if (method, path) == ("POST", "/product/create"):
            return self._create(headers, body)
        if (method, path) == ("GET", "/_stats"):
            return 200, self.stats(), {}
        if (method, path) == ("GET", "/_windows"):
            return 200, self.windows.summary(), {}
        if (method, path) == ("POST", "/_reset"):
            return 200, self.reset(), {}
        if (method, path) == ("POST", "/_config"):
            try:
                return 200, self.configure(dict(json.loads(body or b"{}"))), {}
            except (ValueError, TypeError) as exc:
                return 400, {"code": 1000, "msg": f"bad config: {exc}"}, {}
        return 404, {"code": 1404, "msg": f"no route {method} {path}"}, {}

    def _create(self, headers: dict[str, str], body: bytes) -> Answer:
        """At latency 0 the answer is written within data_received, so in_flight stays <= 1."""
        self.counters["requests"] += 1
        now = time.monotonic()
        self.windows.add(now)
        delay = self.config.latency_ms / 1000
        if self.config.capacity_per_s > 0:
            queued = self._capacity.admit(now)
            if queued is None:              # over capacity: refused at once
                self.counters["throttled"] += 1
                return 429, {"code": 5429, "msg": "over capacity"}, {
                    "Retry-After": str(self._capacity.retry_after_s(now))}
            delay += queued
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        decided = None if delay > 0 else self._decide(headers, body)
        if decided is None or decided is _HOLD:
            return self._later(headers, body, decided, delay)
        self.in_flight -= 1
        return decided  # type: ignore[return-value]

    async def _later(self, headers: dict[str, str], body: bytes, decided: object,
                     delay_s: float) -> Response | None:
        try:
            if decided is None:
                await asyncio.sleep(delay_s)
                decided = self._decide(headers, body)
            if decided is _HOLD:
                await asyncio.sleep(self.config.timeout_hold_s)
                return None
            return decided  # type: ignore[return-value]
        finally:
            self.in_flight -= 1

    def _decide(self, headers: dict[str, str], body: bytes) -> Response | object:
        """Faults first, so a failed attempt neither records the key nor creates anything."""
        key = headers.get("idempotency-key", "").strip()
        if not key:
            return self._reject(400, 1000, "missing Idempotency-Key header")
        try:
            doc = json.loads(body)
            payload = tuple(doc[name] for name, _ in _FIELDS)
            if not all(type(v) is t for v, (_, t) in zip(payload, _FIELDS, strict=True)):
                raise TypeError
        except (ValueError, TypeError, KeyError):
            return self._reject(400, 1002, "body must be a JSON object with int shop_id, "
                                           "int source_product_id, str name, int price_cents")
        cfg = self.config
        self.attempts[key] += 1
        if self.attempts[key] <= cfg.fail_first_n_per_key:
            return self._fault(cfg.fail_status)
        roll = self._rng.random()
        if roll < cfg.timeout_rate:
            self.counters["timeouts"] += 1
            return _HOLD
        if roll < cfg.timeout_rate + cfg.error_rate:
            return self._fault(503)
        if key in self.results:
            product_id, first = self.results[key]
            if first != payload:
                return self._reject(409, 1003, f"idempotency key {key} reused with another body")
            self.counters["replays"] += 1
            return 200, {"code": 0, "msg": "", "data": {"product_id": product_id}}, {}
        if cfg.reject_every and doc["source_product_id"] % cfg.reject_every == 0:
            return self._reject(422, 1001,
                                f"product {doc['source_product_id']} rejected: invalid sku")
        product_id, self._next_id = self._next_id, self._next_id + 1
        self.results[key] = (product_id, payload)
        self.creates_per_key[key] += 1
        self.counters["creates"] += 1
        return 200, {"code": 0, "msg": "", "data": {"product_id": product_id}}, {}

    def _reject(self, status: int, code: int, msg: str) -> Response:
        self.counters["rejects"] += 1
        return status, {"code": code, "msg": msg}, {}

    def _fault(self, status: int) -> Response:
        self.counters["throttled" if status == 429 else "errors_5xx"] += 1
        after = self.config.retry_after_s
        return (status, {"code": 5000 + status, "msg": f"injected {status}"},
                {} if after is None else {"Retry-After": f"{after:g}"})
