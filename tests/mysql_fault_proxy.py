"""A TCP proxy in front of the test MySQL server that can lose a COMMIT's reply.

The fault it makes is the real one: the client's COMMIT reaches the server, the server
commits and answers, and the answer never reaches the client (the proxy drops it and closes
the client's socket). pymysql then raises OperationalError 2013 "Lost connection to MySQL
server during query" although the transaction is durable.

Arm it with `lose_commit_reply_after(b"INSERT INTO tbl_async_task")`: on the first client
connection that sends a query containing that text, the reply to the next COMMIT is lost.
It fires once.

`go_down_after_commit_of(b"INSERT INTO tbl_task_detail")`: once a transaction containing
that text has committed (its reply delivered), the server "goes away": every connection is
cut and new ones are closed at once, until `come_back()`.

`hold_reply_to(b"SELECT CONCAT_WS(", hold_s=3, signal_after_s=2)`: the answer to the first
query containing that text reaches the client only after hold_s (a slow, selective query:
the server is scanning and sends nothing); `signal` is set once it has been held for
signal_after_s, so a test can act at that point of the fault's timeline.
"""
from __future__ import annotations

import socket
import threading
from typing import Any
from urllib.parse import urlparse, urlunparse

COM_QUERY = 0x03


class MySQLFaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._trigger: bytes | None = None
        self.commits_lost = 0
        self._closed = False
        self._socks: set[socket.socket] = set()
        self._down_trigger: bytes | None = None
        self.down = False
        self._hold: tuple[bytes, float, float] | None = None
        self.signal = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="fault-proxy").start()

    def url_for(self, database_url: str) -> str:
        u = urlparse(database_url)
        auth = u.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunparse(u._replace(netloc=netloc))

    def lose_commit_reply_after(self, trigger: bytes) -> None:
        with self._lock:
            self._trigger = trigger

    def go_down_after_commit_of(self, trigger: bytes) -> None:
        with self._lock:
            self._down_trigger = trigger

    def hold_reply_to(self, trigger: bytes, hold_s: float, signal_after_s: float) -> None:
        with self._lock:
            self._hold = (trigger, hold_s, signal_after_s)
            self.signal.clear()

    def come_back(self) -> None:
        self.down = False

    def _go_down(self) -> None:
        self.down = True
        for s in list(self._socks):
            _close(s)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for s in list(self._socks):
            _close(s)

    # -- plumbing --------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                _close(client)
                continue
            server = socket.create_connection(self.upstream)
            self._socks |= {client, server}
            conn = _Conn(self, client, server)
            threading.Thread(target=conn.client_to_server, daemon=True).start()
            threading.Thread(target=conn.server_to_client, daemon=True).start()

    def _claim_fault(self) -> bool:
        with self._lock:
            if self._trigger is None:
                return False
            self._trigger = None
            self.commits_lost += 1
            return True


class _Conn:
    def __init__(self, proxy: MySQLFaultProxy, client: socket.socket, server: socket.socket):
        self.proxy, self.client, self.server = proxy, client, server
        self.triggered = False          # this connection sent the trigger query
        self.drop_reply = threading.Event()
        self.down_trigger_seen = False
        self.down_after_reply = threading.Event()
        self.hold: tuple[float, float] | None = None     # (hold_s, signal_after_s)

    def client_to_server(self) -> None:
        buf = b""
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                buf += data
                out = b""
                while len(buf) >= 4:
                    size = int.from_bytes(buf[:3], "little")
                    if len(buf) < 4 + size:
                        break
                    packet, buf = buf[:4 + size], buf[4 + size:]
                    self._inspect(packet[4:])
                    out += packet
                if out:
                    self.server.sendall(out)
        except OSError:
            pass
        finally:
            _close(self.server)
            _close(self.client)

    def _inspect(self, payload: bytes) -> None:
        if not payload or payload[0] != COM_QUERY:
            return
        query = payload[1:]
        hold = self.proxy._hold
        if hold is not None and hold[0] in query:
            with self.proxy._lock:
                if self.proxy._hold is not None:
                    self.proxy._hold = None
                    self.hold = (hold[1], hold[2])
        down = self.proxy._down_trigger
        if down is not None and down in query:
            self.down_trigger_seen = True
        elif self.down_trigger_seen and query.strip().upper() == b"COMMIT":
            with self.proxy._lock:
                if self.proxy._down_trigger is not None:
                    self.proxy._down_trigger = None
                    self.down_after_reply.set()
        trigger = self.proxy._trigger
        if trigger is not None and trigger in query:
            self.triggered = True
        elif self.triggered and query.strip().upper() == b"COMMIT" and self.proxy._claim_fault():
            self.drop_reply.set()       # set before the COMMIT is forwarded

    def server_to_client(self) -> None:
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                if self.drop_reply.is_set():   # the server committed; its OK is lost
                    break
                if self.hold is not None:
                    hold_s, signal_after_s = self.hold
                    self.hold = None
                    release = threading.Event()
                    release.wait(signal_after_s)   # the fault's timeline, not a test wait
                    self.proxy.signal.set()
                    release.wait(hold_s - signal_after_s)
                self.client.sendall(data)
                if self.down_after_reply.is_set():    # that COMMIT's reply went through
                    self.proxy._go_down()
                    break
        except OSError:
            pass
        finally:
            _close(self.client)
            _close(self.server)


def _close(s: Any) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
