"""A real HTTP receiver for completion callbacks, on a free loopback port (tests only).

Each request is recorded (path, headers, body) and answered by the next step of a script:
an HTTP status, or HOLD (the answer waits until `release()` or the hold's own limit,
which makes the caller's timeout fire). Without a script every request gets 200. Tests
wait on what it received with `wait_for(n)` (a condition with a deadline), never on sleeps.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD = "hold"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class CallbackReceiver:
    def __init__(self, hold_limit_s: float = 10.0) -> None:
        self.requests: list[Received] = []
        self._script: list[Any] = []
        self._cond = threading.Condition()
        self._released = threading.Event()
        self._hold_limit_s = hold_limit_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:        # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                step = receiver._record(Received(self.path, dict(self.headers.items()), body))
                if step == HOLD:
                    receiver._released.wait(receiver._hold_limit_s)
                    step = 200
                try:
                    self.send_response(int(step))
                    self.send_header("Content-Type", "text/plain")
                    text = b"ok" if int(step) < 300 else b"receiver says no"
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except (BrokenPipeError, ConnectionResetError):   # the caller gave up
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "CallbackReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def script(self, *steps: Any) -> None:
        """Answers of the next requests, in order (then 200 again)."""
        with self._cond:
            self._script = list(steps)
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def reset(self) -> None:
        with self._cond:
            self.requests.clear()
            self._script = []
            self._released.clear()

    def _record(self, received: Received) -> Any:
        with self._cond:
            self.requests.append(received)
            step = self._script.pop(0) if self._script else 200
            self._cond.notify_all()
            return step

    def wait_for(self, n: int, timeout_s: float = 30.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout_s):
                raise AssertionError(f"receiver got {len(self.requests)} requests, not {n}")
            return list(self.requests)
