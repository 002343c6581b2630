"""The product center's HTTP/1.1 client (chalicelib/adapters/http_pool.py): answer parsing
on byte streams, and connection handling against small real socket servers."""
from __future__ import annotations

import io
import select
import socket
import threading
from typing import Callable

import pytest

from chalicelib.adapters.http_pool import (MAX_HEADERS, ConnectFailed, HttpPool, ProtocolError,
                                           read_answer)


def answer(raw: bytes):
    return read_answer(io.BytesIO(raw))


def test_content_length_answer_keeps_the_connection():
    ans, keep = answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 11\r\nRetry-After: 3\r\n\r\n{\"code\": 0}")
    assert (ans.status, ans.data, keep) == (200, b'{"code": 0}', True)
    assert ans.headers["retry-after"] == "3" and ans.headers["content-type"] == "application/json"


def test_chunked_answer_with_extensions_and_trailers():
    ans, keep = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"4;ext=1\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-Trailer: y\r\n\r\n")
    assert (ans.data, keep) == (b'{"a": 1}', True)


def test_connection_close_and_http10_are_not_reused():
    assert answer(b"HTTP/1.1 503 No\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[1] is False
    assert answer(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")[1] is False
    assert answer(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")[1]


def test_body_to_the_close_without_a_length():
    ans, keep = answer(b"HTTP/1.1 200 OK\r\n\r\nall of it")
    assert (ans.data, keep) == (b"all of it", False)


def test_interim_answers_are_skipped():
    ans, _ = answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    assert (ans.status, ans.data) == (201, b"ok")


@pytest.mark.parametrize("raw", [
    b"",                                                            # closed before an answer
    b"garbage\r\n\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",          # cut short
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n",              # a latin-1 "digit"
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",                   # head cut short
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
])
def test_malformed_answers_are_protocol_errors(raw):
    with pytest.raises(ProtocolError):
        answer(raw)


def serve(handle: Callable[[socket.socket, int], None], connections: int):
    """A listening socket on a free port; `handle(conn, n)` runs for the n-th connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def loop() -> None:
        for n in range(connections):
            conn, _ = listener.accept()
            with conn:
                handle(conn, n)
        listener.close()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}", thread


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_one_send_per_request_keep_alive_and_a_closed_idle_connection_is_replaced():
    seen: list[tuple[int, bytes]] = []

    def handle(conn: socket.socket, n: int) -> None:
        for _ in range(2 if n == 0 else 1):
            seen.append((n, read_request(conn)))
            conn.sendall(OK)
        # then connection 0 is closed by the server (as a keep-alive timeout would)
    url, thread = serve(handle, connections=2)
    pool = HttpPool(url + "/base", maxsize=2, connect_timeout_s=2, read_timeout_s=5)
    try:
        for n in range(2):
            assert pool.post("/x", b"{}", {"Idempotency-Key": f"k-{n}"}).data == b"ok"
        idle = pool._idle[-1]
        assert select.select([idle.sock], [], [], 5)[0], "the server's close never arrived"
        assert pool.post("/x", b"{}", {"Idempotency-Key": "k-2"}).data == b"ok"
    finally:
        pool.close()
    thread.join(5)
    assert [n for n, _ in seen] == [0, 0, 1]    # two on the kept connection, then a new one
    first = seen[0][1].decode()
    assert first.startswith("POST /x HTTP/1.1\r\n") and "Content-Length: 2\r\n" in first
    assert "Idempotency-Key: k-0\r\n" in first and first.endswith("\r\n\r\n{}")


def test_refused_connection_is_connect_failed():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    pool = HttpPool(f"http://127.0.0.1:{port}", maxsize=1, connect_timeout_s=1,
                    read_timeout_s=1)
    with pytest.raises(ConnectFailed):
        pool.post("/x", b"", {})


def test_no_answer_is_a_timeout_and_the_connection_is_dropped():
    release = threading.Event()

    def handle(conn: socket.socket, n: int) -> None:
        read_request(conn)
        if n == 0:
            release.wait(5)               # no answer within the client's read timeout
        else:
            conn.sendall(OK)
    url, thread = serve(handle, connections=2)
    pool = HttpPool(url, maxsize=1, connect_timeout_s=1, read_timeout_s=0.2)
    try:
        with pytest.raises(TimeoutError):
            pool.post("/x", b"", {})
        release.set()
        assert pool.post("/x", b"", {}).status == 200      # on a new connection
    finally:
        pool.close()
    thread.join(5)


def test_header_values_with_line_breaks_are_refused():
    pool = HttpPool("http://127.0.0.1:9", maxsize=1, connect_timeout_s=1, read_timeout_s=1)
    with pytest.raises(ValueError):
        pool.post("/x", b"", {"Idempotency-Key": "a\r\nX-Evil: 1"})
