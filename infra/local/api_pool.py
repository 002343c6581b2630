"""The API as Lambda serves it: a pool of instance processes behind the local gateway.

Each API instance is a spawned process that imports the app once and then handles one
API Gateway proxy event at a time (`app(event, context)`, the handler Chalice deploys),
keeping its warm state (settings, clients, its one DB connection) between requests.
Instances are started on demand, one per request that finds no idle one, up to the API
concurrency (the stage's `reserved_concurrency` of `api_handler`); a request beyond it is
throttled at once, as Lambda throttles (429, `{code: 42900, msg}`), and an instance idle
for `idle_s` is ended. An invocation past the function's `lambda_timeout` ends its instance
(504); an instance that dies mid-request answers 502.

The front server (threads in the runtime's process) reads each request completely before it
takes an instance: the request line, headers and body must arrive within `read_timeout_s`
of the first byte, else the client gets 408 and the connection is closed, so a client that
connects and sends nothing, or trickles a body, holds a thread of the front server and no
instance. The authorizer runs in the front process, as API Gateway calls it before Lambda.
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import logging
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import traceback
from typing import Any, Callable

from chalice.app import Chalice
from chalice.config import Config

from infra.gateway_responses import GATEWAY_RESPONSES
from infra.local.gateway import GatewayRequestHandler, GatewayServer, app_cors_headers
from infra.local.instances import InstanceSpec, StopSignal, _boot_instance, _context, _instance_log

log = logging.getLogger("local-runtime")

DEFAULT_API_CONCURRENCY = 10      # when the stage reserves none (Lambda's account pool is 1000)
READ_TIMEOUT_S = 10.0             # whole request, from its first byte
KEEPALIVE_S = 60.0                # an idle keep-alive connection is closed after this
INIT_TIMEOUT_S = 30.0             # a cold instance must be ready within this
IDLE_S = 600.0                    # an instance idle this long is ended
MAX_BODY = 10 * 1024 * 1024       # API Gateway's payload limit


def _envelope(status: int, code: int, msg: str,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda-proxy-shaped response with the platform's {code, msg, data} body."""
    return {"statusCode": status, "multiValueHeaders": {},
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps({"code": code, "msg": msg, "data": None}), "gateway": True}


# The bodies API Gateway's THROTTLED / INTEGRATION_TIMEOUT / DEFAULT_5XX responses carry
# once `make deploy` has put them (infra/gateway_responses.py): one table for both sides.
THROTTLED = (429, *GATEWAY_RESPONSES["THROTTLED"][1:])
TIMED_OUT = (504, *GATEWAY_RESPONSES["INTEGRATION_TIMEOUT"][1:])
CRASHED = (502, *GATEWAY_RESPONSES["DEFAULT_5XX"][1:])     # Lambda crashed: API GW's 502


# -- the instance process -----------------------------------------------------------------
def run_api_instance(spec: InstanceSpec, stop: StopSignal, conn: Any) -> None:
    """Entry point of one API instance: events in on `conn`, responses out, one at a time."""
    _, handler = _boot_instance(spec, stop)
    conn.send(("ready", os.getpid()))
    while True:
        multiprocessing.connection.wait([conn, stop])
        if stop.is_set():
            return
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        ctx = _context(spec)
        try:
            conn.send(("ok", handler(event, ctx)))
        except Exception as exc:   # Lambda reports an unhandled error; the gateway says 502
            _instance_log(spec, "invocation failed", level="ERROR",
                          request_id=ctx.aws_request_id, error=f"{type(exc).__name__}: {exc}",
                          stack=traceback.format_exc())
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


# -- the pool -----------------------------------------------------------------------------
@dataclasses.dataclass
class _Instance:
    index: int
    process: Any
    conn: Any
    ready: bool = False
    busy: bool = False
    last_used: float = 0.0


class ApiPool:
    """Instances of the API function, scaled with demand up to `limit`.

    spec_for(index) builds the InstanceSpec of instance `index`; `mp` is the runtime's
    spawn context and `stop` its stop signal. `warm` instances are started at once (the
    rest on demand). Thread-safe: the front server calls invoke() from many threads.
    """

    def __init__(self, spec_for: Callable[[int], InstanceSpec], mp: Any, stop: StopSignal,
                 limit: int, *, timeout_s: float, warm: int = 1, idle_s: float = IDLE_S,
                 init_timeout_s: float = INIT_TIMEOUT_S) -> None:
        if limit < 1:
            raise ValueError("API concurrency must be at least 1")
        self.limit, self.timeout_s, self.idle_s = limit, timeout_s, idle_s
        self.init_timeout_s = init_timeout_s
        self._spec_for, self._mp, self._stop = spec_for, mp, stop
        self._instances: list[_Instance] = []
        self._lock = threading.Lock()
        self._indexes = itertools.count()
        self.throttled = 0
        with self._lock:
            for _ in range(min(warm, limit)):
                self._spawn()

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [i.process.pid for i in self._instances]

    def invoke(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The instance's response to one proxy event (or the gateway's error response)."""
        inst = self._acquire()
        if inst is None:
            self.throttled += 1
            return _envelope(*THROTTLED, headers={"Retry-After": "1"})
        try:
            if not inst.ready:
                if not inst.conn.poll(self.init_timeout_s):
                    raise TimeoutError("instance not ready")
                inst.conn.recv()          # ("ready", pid)
                inst.ready = True
            inst.conn.send(event)
            if not inst.conn.poll(self.timeout_s):
                log.error("API instance %s timed out after %.0f s", inst.process.pid,
                          self.timeout_s)
                self._discard(inst)
                return _envelope(*TIMED_OUT)
            kind, payload = inst.conn.recv()
        except (EOFError, OSError, TimeoutError) as exc:
            log.error("API instance %s failed: %s", inst.process.pid, exc)
            self._discard(inst)
            return _envelope(*CRASHED)
        self._release(inst)
        return payload if kind == "ok" else _envelope(*CRASHED)

    def stop(self, grace_s: float = 3.0) -> None:
        """After the runtime's stop signal: join the instances, then end stragglers by PID."""
        with self._lock:
            instances, self._instances = self._instances, []
        deadline = time.monotonic() + grace_s
        for inst in instances:
            inst.process.join(max(0.0, deadline - time.monotonic()))
        for inst in instances:
            self._end(inst)

    # -- internals ------------------------------------------------------------------------
    def _spawn(self) -> _Instance:
        spec = self._spec_for(next(self._indexes))
        parent, child = self._mp.Pipe(duplex=True)
        proc = self._mp.Process(target=run_api_instance, args=(spec, self._stop, child),
                                name=f"{spec.function_name}#{spec.index}", daemon=True)
        proc.start()
        child.close()
        inst = _Instance(spec.index, proc, parent, last_used=time.monotonic())
        self._instances.append(inst)
        return inst

    def _acquire(self) -> _Instance | None:
        with self._lock:
            now = time.monotonic()
            for inst in list(self._instances):
                if inst.busy:
                    continue
                if not inst.process.is_alive():
                    self._instances.remove(inst)
                    threading.Thread(target=self._end, args=(inst,), daemon=True).start()
                elif now - inst.last_used > self.idle_s and inst.ready:
                    self._instances.remove(inst)       # Lambda recycles idle sandboxes
                    threading.Thread(target=self._end, args=(inst,), daemon=True).start()
            idle = sorted((i for i in self._instances if not i.busy), key=lambda i: not i.ready)
            if idle:
                inst = idle[0]
            elif len(self._instances) < self.limit:
                inst = self._spawn()
            else:
                return None
            inst.busy = True
            return inst

    def _release(self, inst: _Instance) -> None:
        with self._lock:
            inst.busy, inst.last_used = False, time.monotonic()

    def _discard(self, inst: _Instance) -> None:
        with self._lock:
            if inst in self._instances:
                self._instances.remove(inst)
        self._end(inst)

    @staticmethod
    def _end(inst: _Instance) -> None:
        inst.conn.close()
        proc = inst.process
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
            if not proc.is_alive():
                break
            os.kill(proc.pid, sig)
            proc.join(wait_s)
        proc.join()


class PooledApp:
    """What the gateway sees as the app: the real app's routes and authorizers (for
    matching and authorizing in the front process), but calls go to the pool."""

    def __init__(self, app: Chalice, pool: ApiPool) -> None:
        self._app, self._pool = app, pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = self._pool.invoke(event, context)
        if response.pop("gateway", False):      # the gateway's own answer: its CORS grant
            response["headers"].update(app_cors_headers(self._app))
        return response


# -- the front server ---------------------------------------------------------------------
class _Deadline:
    __slots__ = ("sock", "fired", "done")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.fired, self.done = sock, False, False


class Deadlines:
    """One thread that cuts off reads still running at their deadline: shutting the read
    side of the socket wakes the blocked read with end-of-file."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="api-read-deadlines",
                                        daemon=True)
        self._thread.start()

    def arm(self, sock: socket.socket, after_s: float) -> _Deadline:
        token = _Deadline(sock)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + after_s, next(self._seq), token))
            self._cond.notify()
        return token

    @staticmethod
    def disarm(token: _Deadline | None) -> None:
        if token is not None:
            token.done = True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, _, token = self._heap[0]
                wait_s = when - time.monotonic()
                if wait_s > 0:
                    self._cond.wait(wait_s)
                    continue
                heapq.heappop(self._heap)
                token.fired = True
                try:
                    token.sock.shutdown(socket.SHUT_RD)
                except OSError:          # already closed by its handler
                    pass


class _RequestRefused(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class PooledRequestHandler(GatewayRequestHandler):
    """The gateway's handler, reading each request whole under a deadline before it
    reaches the app (and so an instance)."""

    _deadline: _Deadline | None = None
    _served = False

    def handle_one_request(self) -> None:
        server: PooledGatewayServer = self.server  # type: ignore[assignment]
        # A new connection must start its request within the read timeout; a kept-alive
        # one may wait for the next request up to the keep-alive timeout.
        first, self._served = not self._served, True
        self.connection.settimeout(server.read_timeout_s if first else server.keepalive_s)
        try:
            if not self.rfile.peek(1):           # the client closed its keep-alive connection
                self.close_connection = True
                return
        except OSError:                          # nothing sent in time: cut off
            self.close_connection = True
            return
        # the deadline cuts the read off (and answers 408) before a socket timeout would
        self.connection.settimeout(server.read_timeout_s + server.keepalive_s)
        self._deadline = server.deadlines.arm(self.connection, server.read_timeout_s)
        try:
            super().handle_one_request()
        finally:
            server.deadlines.disarm(self._deadline)

    def _read_payload(self) -> tuple[dict[str, str], bytes | None]:
        try:
            length = int(self.headers.get("content-length", "0") or 0)
        except ValueError:
            raise _RequestRefused(400, 40000, "invalid Content-Length") from None
        if length > MAX_BODY:
            raise _RequestRefused(413, 41300, f"request body over {MAX_BODY} bytes")
        body = self.rfile.read(length) if length > 0 else None
        self.server.deadlines.disarm(self._deadline)  # type: ignore[attr-defined]
        if self._deadline is not None and self._deadline.fired or len(body or b"") < length:
            raise _RequestRefused(408, 40800, "request not received in time")
        return dict(self.headers), body

    def _generic_handle(self) -> None:
        try:
            self._payload = self._read_payload()
        except _RequestRefused as refused:
            self.close_connection = True
            body = json.dumps({"code": refused.code, "msg": refused.msg, "data": None})
            return self._send_json(refused.status, body.encode())
        GatewayRequestHandler._generic_handle(self)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _parse_payload(self) -> tuple[dict[str, str], bytes | None]:
        return self._payload

    def _drain_body(self) -> None:       # already read by _read_payload
        return None

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The stdlib's own refusals (malformed request line, headers) in the envelope."""
        if self._deadline is not None and self._deadline.fired:
            code, message = 408, "request not received in time"
        self.close_connection = True
        body = json.dumps({"code": code * 100, "msg": message or "bad request", "data": None})
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body.encode())
        except OSError:
            pass


class PooledGatewayServer(GatewayServer):
    request_queue_size = 1024        # a burst of connections waits in the backlog, not dropped

    def __init__(self, address: tuple[str, int], app: Chalice, config: Config,
                 access_log: bool, pool: ApiPool, *, read_timeout_s: float = READ_TIMEOUT_S,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self.pool = pool
        self.read_timeout_s, self.keepalive_s = read_timeout_s, keepalive_s
        self.deadlines = Deadlines()
        super().__init__(address, PooledApp(app, pool), config, access_log)  # type: ignore

    def _make_handler(self, request, client_address, server):
        return PooledRequestHandler(request, client_address, server,
                                    app_object=self.app, config=self.config)

    def server_close(self) -> None:
        super().server_close()
        self.deadlines.close()


def api_concurrency(runtime: Any, config: Config) -> int:
    """The runtime's api_concurrency, else the stage's reserved concurrency of the API
    function, else API_CONCURRENCY of its environment, else DEFAULT_API_CONCURRENCY."""
    env = runtime._function_env("api_handler")
    return int(runtime.api_concurrency or config.reserved_concurrency
               or env.get("API_CONCURRENCY") or DEFAULT_API_CONCURRENCY)


def serve_pooled(runtime: Any, config: Config) -> tuple[PooledGatewayServer, ApiPool]:
    """The runtime's hook: the pool of API instances and the front server in front of it."""
    pool = ApiPool(lambda index: runtime._spec("api", "api_handler", index), runtime._mp,
                   runtime._stop, api_concurrency(runtime, config),
                   timeout_s=float(config.lambda_timeout or 60))
    server = PooledGatewayServer((runtime.host, runtime.port), runtime.app, config,
                                 runtime.access_log, pool,
                                 read_timeout_s=runtime.api_read_timeout_s or READ_TIMEOUT_S)
    return server, pool
