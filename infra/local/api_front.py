"""The API's front server in the local runtime: what API Gateway is in front of Lambda.

It runs as threads in the runtime's process and reads each request completely before it
takes an API instance (infra/local/api_pool.py): the request line, headers and body must
arrive within `read_timeout_s` of the first byte, else the client gets 408 and the
connection is closed, so a client that connects and sends nothing, or trickles a body,
holds a thread of the front server and no instance. The authorizer runs here, as API
Gateway calls it before Lambda; the matched, authorized event goes to the pool.
"""
from __future__ import annotations

import heapq
import itertools
import json
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice
from chalice.config import Config

from chalicelib import texts
from infra.local.gateway import GatewayRequestHandler, GatewayServer, app_cors_headers

if TYPE_CHECKING:
    from infra.local.api_pool import ApiPool

READ_TIMEOUT_S = 10.0             # whole request, from its first byte
KEEPALIVE_S = 60.0                # an idle keep-alive connection is closed after this
MAX_BODY = 10 * 1024 * 1024       # API Gateway's payload limit


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

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm
        # holds the body until the client's delayed ACK (~40 ms on Linux)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
            body = json.dumps({"code": refused.code, "msg": texts.chinese_first(
                refused.msg, refused.code), "data": None})
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
        body = json.dumps({"code": code * 100, "msg": texts.chinese_first(message, code * 100),
                           "data": None})
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is not the server's error."""
        import sys
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
