"""The init of one execution environment: what LocalStack's Go init is inside a container.

Standard library only: it runs on the function's interpreter (Python 3.11, the venv that
stands for Lambda's /var/runtime), started by plugin.py with

    _INIT_LISTEN_FD   a listening TCP socket on 127.0.0.1 (LocalStack POSTs /invoke to it)
    _INIT_PARENT_FD   read end of a pipe whose write end LocalStack holds (EOF: LocalStack is
                      gone, so this environment ends too)
    _INIT_LOG         the environment's log file (appended; the runtime writes to it too)
    _INIT_PYTHON      interpreter of the runtime (default: this one)

and LocalStack's own variables (_HANDLER, AWS_LAMBDA_FUNCTION_TIMEOUT, LOCALSTACK_RUNTIME_ID,
LOCALSTACK_RUNTIME_ENDPOINT, the function's environment, ...).

One HTTP server on that socket serves both sides:
- LocalStack's executor-endpoint protocol: `POST /invoke` in; out, to
  `$LOCALSTACK_RUNTIME_ENDPOINT`: `/status/<id>/ready|error` once at start, and per
  invocation `/invocations/<req>/logs`, then `/response` or `/error` (JSON bodies, with
  Content-Type application/json: anything else reaches LocalStack as an empty payload);
- the Lambda Runtime API (`/2018-06-01/runtime/...`) for the runtime client, awslambdaric,
  run as a child process (`python -m awslambdaric <handler>`, cwd and PYTHONPATH = the
  unpacked package).

One invocation at a time: a second /invoke while one is in flight is refused (409). An
invocation still running at AWS_LAMBDA_FUNCTION_TIMEOUT is ended by SIGKILL of the runtime
and reported as `Sandbox.Timedout`; the next invocation starts a fresh runtime (a new init,
as Lambda does after a timeout). A runtime that exits during an invocation is reported as
`Runtime.ExitError`; one that fails or exits before it asks for its first invocation is
reported through /status/error with its error and the tail of its output.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIME = "/2018-06-01/runtime"
LOG_TAIL_BYTES = 4000


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as resp:
        resp.read()


class Invocation:
    def __init__(self, doc: dict, timeout_s: float) -> None:
        self.request_id: str = doc["invoke-id"]
        self.payload: bytes = (doc.get("payload") or "").encode()
        self.function_arn: str = doc.get("invoked-function-arn", "")
        self.trace_id: str = doc.get("trace-id", "")
        self.started = time.time()
        self.deadline = self.started + timeout_s
        self.delivered = False
        self.log_offset = 0
        self.timer: threading.Timer | None = None


class Init:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.handler = env.get("_HANDLER", "")
        self.timeout_s = float(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.endpoint = env["LOCALSTACK_RUNTIME_ENDPOINT"].rstrip("/")
        self.runtime_id = env["LOCALSTACK_RUNTIME_ID"]
        self.python = env.get("_INIT_PYTHON") or sys.executable
        self.log_path = env["_INIT_LOG"]
        self.log = open(self.log_path, "ab", buffering=0)
        self.task_root = env.get("LAMBDA_TASK_ROOT") or os.getcwd()
        self.cond = threading.Condition()
        self.runtime: subprocess.Popen | None = None
        self.ready_reported = False       # /status/ready or /status/error sent
        self.pending: Invocation | None = None
        self.stopping = False
        self.server: ThreadingHTTPServer | None = None

    # -- output ----------------------------------------------------------------------------
    def write_log(self, line: str) -> None:
        self.log.write((line.rstrip("\n") + "\n").encode())

    def log_size(self) -> int:
        return os.fstat(self.log.fileno()).st_size

    def read_log(self, offset: int, limit: int | None = None) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            data = f.read()
        if limit is not None:
            data = data[-limit:]
        return data.decode("utf-8", "replace")

    def callback(self, path: str, doc: dict | bytes) -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        try:
            post(self.endpoint + path, body)
        except OSError as err:          # LocalStack gone or the env already stopped
            self.write_log(f"init: callback {path} failed: {err}")

    # -- the runtime process -----------------------------------------------------------------
    def runtime_env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if not k.startswith("_INIT_")}
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
        env["LAMBDA_TASK_ROOT"] = self.task_root
        env["PYTHONPATH"] = self.task_root
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start_runtime(self) -> None:
        """Start the runtime client (called with self.cond held)."""
        port = self.server.server_address[1]
        self.runtime = subprocess.Popen(
            [self.python, "-m", "awslambdaric", self.handler], cwd=self.task_root,
            env=self.runtime_env(port), stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log)
        threading.Thread(target=self.watch_runtime, args=(self.runtime,), daemon=True).start()

    def watch_runtime(self, proc: subprocess.Popen) -> None:
        code = proc.wait()
        with self.cond:
            if self.runtime is proc:
                self.runtime = None
            if self.stopping:
                return
            message = f"Runtime exited with error: exit status {code}"
            if not self.ready_reported:
                self.ready_reported = True
                self.callback(f"/status/{self.runtime_id}/error", {
                    "errorType": "Runtime.ExitError", "errorMessage": message,
                    "logs": self.read_log(0, LOG_TAIL_BYTES)})
                self.shutdown()
            elif self.pending is not None and self.pending.delivered:
                self.finish(self.pending, "error", {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {self.pending.request_id} Error: {message}"})
            self.cond.notify_all()

    def kill_runtime(self) -> None:
        proc = self.runtime
        if proc is not None and proc.poll() is None:
            proc.kill()

    # -- invocations -----------------------------------------------------------------------
    def accept(self, doc: dict) -> bool:
        """LocalStack's POST /invoke: queue it for the runtime. False when busy."""
        with self.cond:
            if self.pending is not None or self.stopping:
                return False
            inv = Invocation(doc, self.timeout_s)
            inv.log_offset = self.log_size()
            self.write_log(f"START RequestId: {inv.request_id} Version: "
                           f"{self.env.get('AWS_LAMBDA_FUNCTION_VERSION', '$LATEST')}")
            self.pending = inv
            inv.timer = threading.Timer(self.timeout_s, self.timed_out, args=(inv,))
            inv.timer.daemon = True
            inv.timer.start()
            if self.runtime is None:                # killed by a timeout, or exited: re-init
                self.start_runtime()
            self.cond.notify_all()
            return True

    def next_invocation(self) -> Invocation | None:
        """The runtime's GET .../invocation/next: blocks until there is one to deliver."""
        with self.cond:
            if not self.ready_reported:
                self.ready_reported = True
                self.callback(f"/status/{self.runtime_id}/ready", {})
            while not self.stopping and (self.pending is None or self.pending.delivered):
                self.cond.wait()
            if self.stopping:
                return None
            self.pending.delivered = True
            return self.pending

    def finish(self, inv: Invocation, kind: str, body: dict | bytes) -> None:
        """Send the invocation's logs, then its response or error (self.cond held)."""
        if self.pending is not inv:
            return
        self.pending = None
        if inv.timer is not None:
            inv.timer.cancel()
        took_ms = (time.time() - inv.started) * 1000
        self.write_log(f"END RequestId: {inv.request_id}")
        self.write_log(f"REPORT RequestId: {inv.request_id}\tDuration: {took_ms:.2f} ms")
        self.callback(f"/invocations/{inv.request_id}/logs",
                      {"logs": self.read_log(inv.log_offset)})
        self.callback(f"/invocations/{inv.request_id}/{kind}", body)
        self.cond.notify_all()

    def result(self, request_id: str, kind: str, body: bytes) -> bool:
        with self.cond:
            inv = self.pending
            if inv is None or inv.request_id != request_id or not inv.delivered:
                return False
            self.finish(inv, kind, body)
            return True

    def timed_out(self, inv: Invocation) -> None:
        with self.cond:
            if self.pending is not inv:
                return
            self.kill_runtime()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            self.write_log(f"{stamp} {inv.request_id} Task timed out after "
                           f"{self.timeout_s:.2f} seconds")
            self.finish(inv, "error", {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"{stamp} {inv.request_id} Task timed out after "
                                f"{self.timeout_s:.2f} seconds"})

    def init_error(self, body: bytes) -> None:
        """The runtime could not load the handler (it exits right after)."""
        with self.cond:
            if not self.ready_reported:
                self.ready_reported = True
                try:
                    doc = json.loads(body or b"{}")
                except ValueError:
                    doc = {"errorType": "Runtime.Unknown", "errorMessage": body.decode()}
                self.callback(f"/status/{self.runtime_id}/error", doc)
                self.stopping = True        # the exit that follows is expected
                self.cond.notify_all()
                threading.Thread(target=self.shutdown, daemon=True).start()
            elif self.pending is not None:  # a re-init after a timeout failed
                self.pending.delivered = True
                self.finish(self.pending, "error", body)

    # -- lifecycle --------------------------------------------------------------------------
    def shutdown(self, *_: object) -> None:
        with self.cond:
            self.stopping = True
            self.kill_runtime()
            self.cond.notify_all()
        if self.server is not None:
            threading.Thread(target=self.server.shutdown, daemon=True).start()

    def watch_parent(self, fd: int) -> None:
        while os.read(fd, 1024):
            pass
        self.shutdown()

    def serve(self, listen_fd: int, parent_fd: int | None) -> None:
        sock = socket.socket(fileno=listen_fd)
        self.server = ThreadingHTTPServer(sock.getsockname(), handler_for(self),
                                          bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = sock
        self.server.daemon_threads = True
        signal.signal(signal.SIGTERM, lambda *_: self.shutdown())
        if parent_fd is not None:
            threading.Thread(target=self.watch_parent, args=(parent_fd,), daemon=True).start()
        with self.cond:
            self.start_runtime()
        self.server.serve_forever(poll_interval=0.5)
        with self.cond:
            self.stopping = True
            self.kill_runtime()


def handler_for(init: Init) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:   # no access log in the function's logs
            pass

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{RUNTIME}/invocation/next":
                return self.reply(404)
            inv = init.next_invocation()
            if inv is None:
                return self.reply(503, b'{"errorMessage": "environment stopping"}')
            self.reply(200, inv.payload, {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id})

        def do_POST(self) -> None:
            body = self.body()
            parts = self.path.split("/")
            if self.path == "/invoke":
                ok = init.accept(json.loads(body))
                return self.reply(202 if ok else 409)
            if self.path == f"{RUNTIME}/init/error":
                init.init_error(body)
                return self.reply(202)
            # /2018-06-01/runtime/invocation/<id>/response|error
            if len(parts) == 6 and self.path.startswith(f"{RUNTIME}/invocation/") \
                    and parts[5] in ("response", "error"):
                ok = init.result(parts[4], parts[5], body)
                return self.reply(202 if ok else 400)
            self.reply(404)
    return Handler


def main() -> int:
    env = dict(os.environ)
    init = Init(env)
    parent_fd = env.get("_INIT_PARENT_FD")
    init.serve(int(env["_INIT_LISTEN_FD"]), int(parent_fd) if parent_fd else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
