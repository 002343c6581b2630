"""Just enough HTTP/1.1 for the fake product center, on a bare asyncio.Protocol, so that
the fake is never the bottleneck of a test or a benchmark: keep-alive, Content-Length
bodies, pipelined requests answered in order. Each request goes to a `route(method, path,
headers, body)` that answers at once (a Response) or later (an awaitable; None closes the
connection unanswered, as a hung server's connection ends).
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

MAX_HEAD, MAX_BODY = 64 * 1024, 1024 * 1024
Response = tuple[int, dict[str, Any], dict[str, str]]   # status, JSON body, extra headers
Answer = Response | Awaitable[Response | None]   # None = close unanswered
Route = Callable[[str, str, dict[str, str], bytes], Answer]


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

    def __init__(self, route: Route, conns: set[HttpProtocol]):
        self.route, self.conns, self.buf = route, conns, bytearray()
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
            answer = self.route(*req[:4])
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

    def __init__(self, route: Route):
        self.route, self.conns = route, set[HttpProtocol]()
        self.server: asyncio.Server | None = None

    async def open(self, host: str, port: int) -> int:
        self.server = await asyncio.get_running_loop().create_server(
            lambda: HttpProtocol(self.route, self.conns), host, port, backlog=1024)
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
