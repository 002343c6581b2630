"""A local Lambda-like runtime for a Chalice app: routes, SQS workers and schedules.

    with LocalRuntime("app:app", stage="dev", port=0, env=env) as rt:
        urllib.request.urlopen(rt.url + "/task/list")

    python -m infra.local.runtime --app app:app --stage dev --port 8000

Everything it runs is what Chalice itself describes: `app.routes` (served through
chalice.local.LocalGateway, which runs built-in authorizers), and `app.event_sources`:
each SQSEventConfig gets `maximum_concurrency` worker processes that long-poll its queue,
each ScheduledEventConfig one process that fires on its rate. Like Lambda, every instance is
its own spawned process that handles one event at a time and keeps its warm module state;
the handler is the object Chalice deploys, called as `handler(event, context)` with a
Lambda-shaped event and a context whose remaining time follows the function's configured
`lambda_timeout`. An invocation that outlives that timeout ends its instance (its message is
redelivered later, as on Lambda) and a fresh instance takes its place.

The HTTP server runs in this process on threads, so the app is imported here too, with the
stage's environment applied to os.environ while the runtime runs (as `chalice local` does).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from chalice.app import Chalice, Rate, ScheduledEventConfig, SQSEventConfig
from chalice.config import Config

from infra.local.gateway import GatewayServer, use_thread_local_requests
from infra.local.instances import ENTRY_POINTS, InstanceSpec, StopSignal, load_app

log = logging.getLogger("local-runtime")

DEFAULT_TIMEOUT_S = 60          # Chalice's and Lambda's defaults when nothing is configured
DEFAULT_MEMORY_MB = 128
API_FUNCTION_NAME = "api_handler"   # the function name Chalice gives the REST API handler

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


# -- configuration ------------------------------------------------------------------------
def read_chalice_config(project_dir: str | Path) -> dict[str, Any]:
    path = Path(project_dir) / ".chalice" / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def function_config(chalice_config: dict[str, Any], stage: str, function: str) -> Config:
    """Chalice's own lookup: stages.<stage>.lambda_functions.<fn>, then the stage, then
    top-level lambda_functions.<fn>, then top level."""
    return Config(chalice_stage=stage, function_name=function,
                  config_from_disk=chalice_config)


def schedule_seconds(expression: Any) -> float | None:
    """Seconds between firings of a rate expression (str or chalice Rate); None for cron."""
    if isinstance(expression, Rate):
        value, unit = expression.value, expression.unit.lower().rstrip("s")
        return float(value * _UNIT_SECONDS[unit])
    text = expression.to_string() if hasattr(expression, "to_string") else str(expression)
    match = _RATE.match(text.strip())
    if match is None:
        return None
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")])




@dataclasses.dataclass
class _Slot:
    spec: InstanceSpec
    process: Any = None
    started_at: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None


# -- the runtime --------------------------------------------------------------------------
class LocalRuntime:
    """Routes on host:port, one process per SQS worker instance, one per schedule.

    env: extra environment for the app, on top of the stage's environment_variables from
    .chalice/config.json (or `chalice_config`); applied to os.environ here while running,
    and in every instance. worker_concurrency: instances per SQS handler name, overriding
    its maximum_concurrency. schedule_interval_s: fire every schedule this often instead of
    its rate. port 0 = an ephemeral port; `.url` names the real one.
    """

    def __init__(self, app_ref: str = "app:app", stage: str = "dev", host: str = "127.0.0.1",
                 port: int = 8000, env: dict[str, str] | None = None,
                 schedule_interval_s: float | None = None,
                 worker_concurrency: dict[str, int] | None = None,
                 project_dir: str | Path = ".", *, default_concurrency: int = 1,
                 http: bool = True, access_log: bool = True, poll_wait_s: int = 1,
                 chalice_config: dict[str, Any] | None = None,
                 stop_grace_s: float = 3.0, api_concurrency: int | None = None,
                 api_pool: bool = True, api_read_timeout_s: float | None = None,
                 function_env: dict[str, dict[str, str]] | None = None) -> None:
        self.app_ref, self.stage, self.host, self.port = app_ref, stage, host, port
        self.env = dict(env or {})
        # function name -> environment of that function only, over `env` (e.g. each
        # function's own AWS credentials, as each Lambda gets its role's)
        self.function_env = {k: dict(v) for k, v in (function_env or {}).items()}
        self.schedule_interval_s = schedule_interval_s
        self.worker_concurrency = dict(worker_concurrency or {})
        self.project_dir = Path(project_dir).resolve()
        self.default_concurrency = default_concurrency
        self.http, self.access_log, self.poll_wait_s = http, access_log, poll_wait_s
        self.chalice_config = (chalice_config if chalice_config is not None
                               else read_chalice_config(self.project_dir))
        self.stop_grace_s = stop_grace_s
        # api_pool: the API in instance processes (infra/local/api_pool.py), at most
        # api_concurrency at once (default: the stage's reserved_concurrency of api_handler)
        self.api_concurrency, self.api_pool = api_concurrency, api_pool
        self.api_read_timeout_s = api_read_timeout_s
        self._pool: Any = None
        self.app: Chalice | None = None
        self._server: GatewayServer | None = None
        self._server_thread: threading.Thread | None = None
        self._mp = multiprocessing.get_context("spawn")
        # Only this process holds the write end (spawned children get the read end, and
        # pipes are not inherited across exec), so closing it, or dying, stops everyone.
        reader, self._stop_writer = self._mp.Pipe(duplex=False)
        self._stop = StopSignal(reader)
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._started = False

    # -- public ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def instances(self) -> list[dict[str, Any]]:
        """Live instances: handler, kind, index, pid."""
        with self._lock:
            return [{"handler": s.spec.handler_name, "kind": s.spec.kind, "index": s.spec.index,
                     "pid": s.process.pid}
                    for s in self._slots if s.process is not None and s.process.is_alive()]

    @property
    def api_pids(self) -> list[int]:
        """PIDs of the API instances alive now (empty without the pool)."""
        return self._pool.pids if self._pool is not None else []

    def start(self) -> "LocalRuntime":
        if self._started:
            raise RuntimeError("LocalRuntime already started")
        self._started = True
        try:
            self._apply_environ(self._function_env(API_FUNCTION_NAME))
            self.app = load_app(self.app_ref, self.project_dir)
            from infra.local.api_pool import check_connection_budget
            check_connection_budget(self)      # refuses a stage over its DB_CONNECTION_BUDGET
            if self.http:
                self._start_http()
            self._plan_instances()
            for slot in self._slots:
                self._spawn(slot)
            self._supervisor = threading.Thread(target=self._supervise,
                                                name="local-runtime-supervisor", daemon=True)
            self._supervisor.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Ask instances to finish (an SQS poll ends within poll_wait_s), then end the
        stragglers by PID: SIGTERM, then SIGKILL. Shuts the HTTP server."""
        self._stop_writer.close()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        deadline = time.monotonic() + self.stop_grace_s
        with self._lock:
            processes = [s.process for s in self._slots if s.process is not None]
        for proc in processes:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in processes:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        for proc in processes:
            proc.join(5.0)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join()
            self._server_thread = None
        if self._pool is not None:
            self._pool.stop(self.stop_grace_s)
            self._pool = None
        self._restore_environ()

    def __enter__(self) -> "LocalRuntime":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """start(), then block until SIGINT/SIGTERM, then stop()."""
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        print(f"local runtime: {self.url} ({len(self._slots)} instance(s))", file=sys.stderr,
              flush=True)
        try:
            done.wait()
        finally:
            self.stop()

    # -- internals ------------------------------------------------------------------------
    def _function_env(self, function: str) -> dict[str, str]:
        region = (self.env.get("AWS_DEFAULT_REGION") or self.env.get("AWS_REGION")
                  or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
                  or "us-east-1")
        merged = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        merged.update(function_config(self.chalice_config, self.stage,
                                      function).environment_variables)
        merged.update(self.env)
        merged.update(self.function_env.get(function, {}))
        return {k: str(v) for k, v in merged.items()}

    def _apply_environ(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_environ(self) -> None:
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ = {}

    def _start_http(self) -> None:
        assert self.app is not None
        use_thread_local_requests(self.app)
        config = function_config(self.chalice_config, self.stage, API_FUNCTION_NAME)
        if self.api_pool:
            from infra.local.api_pool import serve_pooled
            self._server, self._pool = serve_pooled(self, config)
        else:
            self._server = GatewayServer((self.host, self.port), self.app, config,
                                         self.access_log)
        self.port = self._server.server_address[1]
        self._server_thread = threading.Thread(target=self._server.serve_forever,
                                               kwargs={"poll_interval": 0.2},
                                               name="local-runtime-http", daemon=True)
        self._server_thread.start()

    def _spec(self, kind: str, name: str, index: int, interval_s: float = 0.0) -> InstanceSpec:
        assert self.app is not None
        cfg = function_config(self.chalice_config, self.stage, name)
        env = self._function_env(name)
        return InstanceSpec(
            kind=kind, handler_name=name, app_ref=self.app_ref,
            project_dir=str(self.project_dir), stage=self.stage, env=env,
            function_name=f"{self.app.app_name}-{self.stage}-{name}",
            timeout_s=int(cfg.lambda_timeout or DEFAULT_TIMEOUT_S),
            memory_mb=int(cfg.lambda_memory_size or DEFAULT_MEMORY_MB),
            region=env["AWS_DEFAULT_REGION"], parent_pid=os.getpid(), index=index,
            poll_wait_s=self.poll_wait_s, interval_s=interval_s)

    def _plan_instances(self) -> None:
        assert self.app is not None
        for source in self.app.event_sources:
            if isinstance(source, SQSEventConfig):
                count = self.worker_concurrency.get(
                    source.name, source.maximum_concurrency or self.default_concurrency)
                self._slots += [_Slot(self._spec("sqs", source.name, i))
                                for i in range(int(count))]
            elif isinstance(source, ScheduledEventConfig):
                interval = self.schedule_interval_s or schedule_seconds(
                    source.schedule_expression)
                if interval is None:
                    log.warning("schedule %s (%s) is not a rate(); give schedule_interval_s "
                                "to run it locally", source.name, source.schedule_expression)
                    continue
                self._slots.append(_Slot(self._spec("schedule", source.name, 0, interval)))
            else:
                log.warning("event source %s (%s) is not run locally", source.name,
                            type(source).__name__)

    def _spawn(self, slot: _Slot) -> None:
        proc = self._mp.Process(
            target=ENTRY_POINTS[slot.spec.kind], args=(slot.spec, self._stop),
            name=f"{slot.spec.function_name}#{slot.spec.index}", daemon=True)
        proc.start()
        slot.process, slot.started_at, slot.restart_at = proc, time.monotonic(), None

    def _supervise(self) -> None:
        """Replace instances that die (crash, timeout, killed by a fault test), as Lambda
        starts a new sandbox; instances that die within 2 s of starting back off."""
        while not self._stop.is_set():
            with self._lock:
                live = [s.process.sentinel for s in self._slots
                        if s.process is not None and s.restart_at is None]
                pending = [s.restart_at for s in self._slots if s.restart_at is not None]
            timeout = min([1.0] + [max(0.0, t - time.monotonic()) for t in pending])
            multiprocessing.connection.wait(live + [self._stop], timeout)
            if self._stop.is_set():
                return
            now = time.monotonic()
            with self._lock:
                for slot in self._slots:
                    if slot.restart_at is None and not slot.process.is_alive():
                        quick = now - slot.started_at < 2.0
                        slot.quick_exits = slot.quick_exits + 1 if quick else 0
                        delay = min(0.25 * 2 ** slot.quick_exits, 10.0) if quick else 0.0
                        log.warning("instance %s exited with %s; starting a new one",
                                    slot.process.name, slot.process.exitcode)
                        slot.process.join()
                        slot.restart_at = now + delay
                    if slot.restart_at is not None and slot.restart_at <= now:
                        self._spawn(slot)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.runtime",
                                     description="Serve a Chalice app's routes, SQS workers "
                                                 "and schedules locally.")
    parser.add_argument("--app", default="app:app")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--schedule-interval", type=float, default=None,
                        help="fire schedules every N seconds instead of their rate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    LocalRuntime(args.app, args.stage, args.host, args.port,
                 schedule_interval_s=args.schedule_interval,
                 project_dir=args.project_dir).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
