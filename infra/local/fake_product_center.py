"""Fake product center: a stand-in for the slow third-party "create product" API.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) on a bare asyncio.Protocol
so that it is never the bottleneck of a test or a benchmark. Latency, 503s, hangs and
rejections are injected from a seeded RNG, so a fault pattern can be replayed. The wire
contract is documented in chalicelib/adapters/product_center.py.

In-process:   `with FakeProductCenter(latency_ms=5) as fake: ... fake.url ...`
As a process: `python -m infra.local.fake_product_center --port 8100 --latency-ms 20`
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from typing import Any, TypeVar

from infra.local.fake_capacity import Capacity, Windows

T = TypeVar("T")
MAX_HEAD, MAX_BODY = 64 * 1024, 1024 * 1024
_HOLD = object()   # decision: leave the request unanswered, then close the connection
Response = tuple[int, dict[str, Any], dict[str, str]]   # status, JSON body, extra headers
Answer = Response | Awaitable[Response | None]   # None = close unanswered


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


_TYPES: dict[str, Callable[[Any], Any]] = {
    "latency_ms": float, "error_rate": float, "timeout_rate": float, "timeout_hold_s": float,
    "reject_every": int, "fail_first_n_per_key": int, "fail_status": int,
    "retry_after_s": float, "capacity_per_s": float, "capacity_queue_s": float, "seed": int}


def updated(cfg: FakeConfig, changes: dict[str, Any]) -> FakeConfig:
    """Partial update with type coercion; ValueError says what is wrong."""
    unknown = set(changes) - set(_TYPES)
    if unknown:
        raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {k: None if v is None and k == "retry_after_s" else _TYPES[k](v)
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


def encode(status: int, doc: dict[str, Any], extra: dict[str, str], keep_alive: bool) -> bytes:
    body = json.dumps(doc, separators=(",", ":")).encode()
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in extra.items())]
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _BadRequest(Exception):
    """args: (status, msg); answered, then the connection is closed."""


class HttpProtocol(asyncio.Protocol):
    """One connection. Requests are answered strictly in order, so pipelining is safe."""

    def __init__(self, center: Center, conns: set[HttpProtocol]):
        self.center, self.conns, self.buf = center, conns, bytearray()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.task: asyncio.Task[None] | None = None   # the request being answered slowly

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.task is None:
            self._drain()

    def _drain(self) -> None:
        while self.task is None and not self.transport.is_closing():
            try:
                req = self._parse()
            except _BadRequest as exc:
                status, msg = exc.args
                return self._send((status, {"code": 1000, "msg": msg}, {}), keep_alive=False)
            if req is None:
                return
            answer = self.center.route(*req[:4])
            if isinstance(answer, tuple):
                self._send(answer, req[4])
            else:
                self.task = asyncio.get_running_loop().create_task(self._await(answer, req[4]))

    async def _await(self, answer: Awaitable[Response | None], keep_alive: bool) -> None:
        resp = await answer
        self.task = None
        if resp is None:
            return self.transport.close()
        self._send(resp, keep_alive)
        self._drain()

    def _send(self, resp: Response, keep_alive: bool) -> None:
        self.transport.write(encode(*resp, keep_alive))
        if not keep_alive:
            self.transport.close()

    def _parse(self) -> tuple[str, str, dict[str, str], bytes, bool] | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise _BadRequest(431, "request head too large")
            return None
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest(400, "malformed request head") from None
        if "transfer-encoding" in headers:
            raise _BadRequest(411, "only Content-Length bodies are supported")
        if not 0 <= length <= MAX_BODY:
            raise _BadRequest(413, "body too large")
        if len(self.buf) < end + 4 + length:
            return None
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        conn = headers.get("connection", "").lower()
        keep_alive = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
        return method, target.split("?", 1)[0], headers, body, keep_alive


class Listener:
    """The asyncio server plus its open connections, so that close() really closes."""

    def __init__(self, center: Center):
        self.center, self.conns = center, set[HttpProtocol]()
        self.server: asyncio.Server | None = None

    async def open(self, host: str, port: int) -> int:
        self.server = await asyncio.get_running_loop().create_server(
            lambda: HttpProtocol(self.center, self.conns), host, port, backlog=1024)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        held = [conn.task for conn in self.conns if conn.task is not None]
        for conn in list(self.conns):
            conn.transport.abort()
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        await self.server.wait_closed()


class FakeProductCenter:
    """The fake on a background event-loop thread, for tests and benchmarks."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", **config: Any):
        self.host, self.port = host, port
        self._center = Center(updated(FakeConfig(), config))
        self._listener = Listener(self._center)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeProductCenter:
        ready, failed = threading.Event(), list[BaseException]()

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                self.port = loop.run_until_complete(self._listener.open(self.host, self.port))
                self._loop = loop   # before ready: configure() right after start() needs it
            except BaseException as exc:   # handed to start()'s caller
                failed.append(exc)
                return loop.close()
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self._listener.close())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-product-center", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop = self._thread = None

    def _call(self, fn: Callable[[], T]) -> T:
        """Run fn on the loop thread, where all state lives."""
        if self._loop is None:
            return fn()

        async def on_loop() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(timeout=10)

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call(lambda: self._center.configure(changes))

    def stats(self) -> dict[str, int]:
        return self._call(self._center.stats)

    def reset(self) -> dict[str, int]:
        """Clear keys and counters; the config stays."""
        return self._call(self._center.reset)

    def windows(self) -> dict[str, float]:
        """Requests seen, over how long, and the busiest sliding one-second window."""
        return self._call(self._center.windows.summary)

    def __enter__(self) -> FakeProductCenter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(host: str, port: int, config: FakeConfig) -> None:
    listener = Listener(Center(config))
    port = await listener.open(host, port)
    print(f"fake product center on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await listener.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake product center (see module docstring).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    for name, kind in _TYPES.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    try:
        config = updated(FakeConfig(), {k: v for k, v in args.items() if v is not None})
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(host, port, config))


if __name__ == "__main__":
    main()
