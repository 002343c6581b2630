"""A lean keep-alive HTTP/1.1 client for the product center's small JSON POSTs.

Why not urllib3 on this path: at zero downstream latency one urllib3 2.8 POST costs about
135 µs of CPU on the 2-core dev machine, http.client about 60 µs (its answer parsing goes
through the email package), and writing the request as one buffer and reading the
answer's head directly about 10 µs. A copy worker makes one call per item, so that was
most of its CPU (bench/profile/). Everything else about a call (timeouts, retries,
idempotency key, rate budget) stays in product_center.py.

What it speaks: HTTP/1.1 requests with a Content-Length body, written in one send;
answers with a Content-Length or chunked body, or one read to the connection's close;
interim 1xx answers are skipped. Connections are kept alive unless the answer says
`Connection: close` (or is HTTP/1.0 without keep-alive). https uses the system trust
store with the host name checked. Limits: lines of 64 KiB, 100 header lines, bodies of
8 MiB; an answer outside them, or cut short, is a ProtocolError and its connection is
dropped.

Connections: at most `maxsize` in use at once (more callers wait for one), idle ones
reused last-in first-out; an idle connection the server has closed meanwhile is noticed
before reuse (a zero-timeout poll, as urllib3 does) and replaced.
"""
from __future__ import annotations

import select
import socket
import threading
from typing import Any, BinaryIO, Mapping, NamedTuple
from urllib.parse import urlsplit

MAX_LINE = 65536
MAX_HEADERS = 100
MAX_BODY = 8 * 1024 * 1024
USER_AGENT = "async-task"


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it, or it was cut short."""


class ConnectFailed(OSError):
    """No connection could be made (refused, unresolvable, unreachable)."""


class ConnectTimeout(ConnectFailed, TimeoutError):
    """No connection within the connect timeout."""


class Answer(NamedTuple):
    """One answer (a tuple: one per downstream call, cheaper to make than a frozen dataclass)."""
    status: int
    headers: dict[str, str]        # lower-case names; a repeated header keeps its last value
    data: bytes


class _Conn:
    __slots__ = ("sock", "fp")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.fp: BinaryIO = sock.makefile("rb")

    def dropped(self) -> bool:
        """True when the server closed it (or sent something unasked) while it was idle."""
        try:
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        for part in (self.fp, self.sock):
            try:
                part.close()
            except OSError:
                pass


class HttpPool:
    """POSTs to one origin over at most `maxsize` keep-alive connections; thread-safe."""

    def __init__(self, base_url: str, *, maxsize: int, connect_timeout_s: float,
                 read_timeout_s: float):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._tls = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._tls else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        default = self._port == (443 if self._tls else 80)
        self._host_header = host if default else f"{host}:{self._port}"
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._slots = threading.BoundedSemaphore(maxsize)
        self._lock = threading.Lock()
        self._idle: list[_Conn] = []
        self._closed = False
        self._ssl: Any = None
        self._starts: dict[str, str] = {}

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One request and its answer. Raises ConnectFailed / ConnectTimeout (no connection),
        TimeoutError (no answer within the read timeout), ProtocolError, or OSError."""
        start = self._starts.get(path)
        if start is None:       # the lines every request to this path begins with, once
            start = self._starts[path] = (f"POST {path} HTTP/1.1\r\nHost: {self._host_header}"
                                          f"\r\nUser-Agent: {USER_AGENT}\r\nContent-Length: ")
        head = [start, f"{len(body)}\r\n"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} carries a line break")
            head.append(f"{name}: {value}\r\n")
        head.append("\r\n")
        request = "".join(head).encode("latin-1") + body
        with self._slots:
            conn = self._take()
            keep = False
            try:
                conn.sock.sendall(request)
                answer, keep = read_answer(conn.fp)
                return answer
            finally:
                self._give(conn, keep)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if not conn.dropped():
                return conn
            conn.close()

    def _give(self, conn: _Conn, keep: bool) -> None:
        if keep:
            with self._lock:
                if not self._closed:
                    self._idle.append(conn)
                    return
        conn.close()

    def _connect(self) -> _Conn:
        try:
            sock = socket.create_connection((self._host, self._port),
                                            timeout=self._connect_timeout_s)
        except TimeoutError as exc:
            raise ConnectTimeout(f"no connection to {self._host_header} within "
                                 f"{self._connect_timeout_s:g} s") from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self._host_header}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                sock = self._tls_context().wrap_socket(sock, server_hostname=self._host)
            sock.settimeout(self._read_timeout_s)
        except BaseException:
            sock.close()
            raise
        return _Conn(sock)

    def _tls_context(self) -> Any:
        if self._ssl is None:
            import ssl      # only an https product center needs it
            self._ssl = ssl.create_default_context()
        return self._ssl


def read_answer(fp: BinaryIO) -> tuple[Answer, bool]:
    """Read one answer from `fp`; returns it and whether the connection may be reused."""
    while True:
        line = _line(fp)
        if not line:
            raise ProtocolError("the connection closed before an answer")
        parts = line.split(None, 2)
        try:
            version, status = parts[0], int(parts[1])
        except (IndexError, ValueError):
            raise ProtocolError(f"not an HTTP status line: {line[:80]!r}") from None
        if not version.startswith(b"HTTP/1.") or not 100 <= status <= 599:
            raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
        headers = _headers(fp)
        if not 100 <= status < 200:
            break
    connection = headers.get("connection", "").lower()
    if version == b"HTTP/1.1":
        keep = "close" not in connection
    else:
        keep = "keep-alive" in connection
    if status in (204, 304):
        return Answer(status, headers, b""), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Answer(status, headers, _chunked(fp)), keep
    length = headers.get("content-length")
    if length is None:                      # the body ends with the connection
        data = fp.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise ProtocolError("answer body too large")
        return Answer(status, headers, data), False
    if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY:
        raise ProtocolError(f"bad Content-Length {length[:40]!r}")
    data = fp.read(int(length))
    if len(data) < int(length):
        raise ProtocolError("the answer was cut short")
    return Answer(status, headers, data), keep


def _line(fp: BinaryIO) -> bytes:
    line = fp.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError("answer line too long")
    return line


def _headers(fp: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(fp)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise ProtocolError("the answer was cut short in its head")
        name, sep, value = line.partition(b":")
        if not sep or not name.strip() or name[:1] in (b" ", b"\t"):
            raise ProtocolError(f"bad header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    raise ProtocolError("too many header lines")


def _chunked(fp: BinaryIO) -> bytes:
    parts, total = [], 0
    while True:
        size_line = _line(fp).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_line[:40]!r}") from None
        if size < 0:
            raise ProtocolError("bad chunk size")
        if size == 0:
            _headers(fp)                    # trailers, up to the empty line
            return b"".join(parts)
        total += size
        if total > MAX_BODY:
            raise ProtocolError("answer body too large")
        chunk = fp.read(size)
        if len(chunk) < size or _line(fp) not in (b"\r\n", b"\n"):
            raise ProtocolError("the answer was cut short in a chunk")
        parts.append(chunk)
