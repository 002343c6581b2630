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
import datetime as dt
import importlib
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
import traceback
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chalice.app import Chalice, Rate, ScheduledEventConfig, SQSEventConfig
from chalice.config import Config
from chalice.local import (ChaliceRequestHandler, LambdaContext, LocalChalice,
                           LocalGatewayException, RouteMatcher)

from infra.local.gateway import error_body, gateway_error

log = logging.getLogger("local-runtime")

LOCAL_ACCOUNT_ID = "123456789012"
DEFAULT_TIMEOUT_S = 60          # Chalice's and Lambda's defaults when nothing is configured
DEFAULT_MEMORY_MB = 128
API_FUNCTION_NAME = "api_handler"   # the function name Chalice gives the REST API handler

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


# -- configuration ------------------------------------------------------------------------
def load_app(app_ref: str, project_dir: str | Path = ".") -> Chalice:
    """Import "module:attribute" with project_dir first on sys.path."""
    module_name, _, attr = app_ref.partition(":")
    root = str(Path(project_dir).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    app = getattr(importlib.import_module(module_name), attr or "app")
    if not isinstance(app, Chalice):
        raise TypeError(f"{app_ref} is a {type(app).__name__}, not a Chalice app")
    return app


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


@dataclasses.dataclass(frozen=True)
class InstanceSpec:
    """Everything a spawned instance needs; picklable."""
    kind: str                     # "sqs" or "schedule"
    handler_name: str             # key of app.handler_map
    app_ref: str
    project_dir: str
    stage: str
    env: dict[str, str]
    function_name: str            # <app>-<stage>-<handler>, as deployed
    timeout_s: int
    memory_mb: int
    region: str
    parent_pid: int
    index: int = 0
    poll_wait_s: int = 1          # SQS long-poll wait; short so stop() is quick
    interval_s: float = 0.0       # schedules only


# -- HTTP ---------------------------------------------------------------------------------
class _GatewayRequestHandler(ChaliceRequestHandler):
    """chalice local's request handler (same event building, same LocalGateway), except
    that what API Gateway answers by itself (authorizer refusals, unknown routes, wrong
    methods) gets the platform's {code, msg} bodies from infra/local/gateway.py, which
    production's gateway responses mirror."""

    def _generic_handle(self) -> None:
        server: _GatewayServer = self.server   # type: ignore[assignment]
        try:
            route = server.route_matcher.match_route(self.path).route
        except ValueError:
            self._drain_body()
            return self._send_json(404, error_body(404))
        methods = server.app.routes[route]
        if self.command not in methods and self.command != "OPTIONS":
            self._drain_body()
            return self._send_json(405, error_body(405),
                                   extra={"Allow": ", ".join(sorted(methods))})
        try:
            super()._generic_handle()
        except Exception:   # an authorizer or middleware raised: Lambda would 500 too
            log.error("request %s %s failed:\n%s", self.command, self.path,
                      traceback.format_exc())
            self._send_json(500, error_body(500))

    # the base class binds do_* to its own _generic_handle; rebind them to ours
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_error_response(self, error: LocalGatewayException) -> None:
        """401 NotAuthorizedError (no credential), 403 ForbiddenError (the authorizer
        denied), 500 InvalidAuthorizerError (it returned nothing)."""
        status, body = gateway_error(error)
        self._send_json(status, body, extra=dict(error.headers))

    def _send_json(self, status: int, body: bytes,
                   extra: dict[str, str] | None = None) -> None:
        headers = {**(extra or {}), "Content-Type": "application/json"}
        self._send_http_response(status, headers, body)

    def _drain_body(self) -> None:
        length = int(self.headers.get("content-length", "0") or 0)
        if length > 0:
            self.rfile.read(length)

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 (stdlib name)
        if getattr(self.server, "access_log", True):
            super().log_message(format, *args)


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: Chalice, config: Config,
                 access_log: bool) -> None:
        self.app, self.config, self.access_log = app, config, access_log
        self.route_matcher = RouteMatcher(list(app.routes))
        super().__init__(address, self._make_handler)

    def _make_handler(self, request, client_address, server):
        return _GatewayRequestHandler(request, client_address, server,
                                      app_object=self.app, config=self.config)


def _thread_local_requests(app: Chalice) -> None:
    """Give the app a per-thread `current_request`, as chalice local does, so concurrent
    requests on the threaded server cannot see each other's request."""
    if not isinstance(app, LocalChalice):
        app.__class__ = type(f"Local{type(app).__name__}", (LocalChalice, type(app)), {})


# -- instances (child processes) ----------------------------------------------------------
class StopSignal:
    """Set once the runtime's write end of a pipe is closed: by stop(), or by the kernel
    when the runtime process dies, so orphans notice at once. Unlike multiprocessing.Event,
    whose set() waits for every sleeper to wake, an instance killed mid-wait (a fault test,
    a timeout) cannot wedge it."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def is_set(self) -> bool:
        return self._reader.poll(0)

    def wait(self, timeout: float | None = None) -> bool:
        return self._reader.poll(timeout)

    def fileno(self) -> int:   # waitable with multiprocessing.connection.wait
        return self._reader.fileno()


def _instance_log(spec: InstanceSpec, message: str, **fields: Any) -> None:
    record = {"level": fields.pop("level", "INFO"), "location": "local-runtime",
              "message": message, "function": spec.function_name, "instance": spec.index,
              "pid": os.getpid(),
              "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
              **fields}
    print(json.dumps(record, default=str), file=sys.stderr, flush=True)


def _boot_instance(spec: InstanceSpec, stop: StopSignal) -> Any:
    """Common start of every instance: environment, parent watch, the app's handler."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # app logs go to stderr, as is
    os.environ.update(spec.env)
    os.chdir(spec.project_dir)

    def watch_parent() -> None:
        stop.wait()
        if os.getppid() != spec.parent_pid:     # the runtime died: so do we, mid-event or not
            os._exit(0)
        # otherwise a graceful stop: the loop ends after the current event
    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    app = load_app(spec.app_ref, spec.project_dir)
    return app, app.handler_map[spec.handler_name]


def _context(spec: InstanceSpec) -> LambdaContext:
    ctx = LambdaContext(function_name=spec.function_name, memory_size=spec.memory_mb,
                        max_runtime_ms=spec.timeout_s * 1000)
    ctx.invoked_function_arn = (f"arn:aws:lambda:{spec.region}:{LOCAL_ACCOUNT_ID}:"
                                f"function:{spec.function_name}")
    ctx.log_group_name = f"/aws/lambda/{spec.function_name}"
    return ctx


def _invoke(spec: InstanceSpec, handler: Any, event: dict[str, Any]) -> bool:
    """One invocation under a watchdog: past the function's timeout the instance ends, as
    Lambda ends a timed-out sandbox. True when the handler returned."""
    ctx = _context(spec)

    def timed_out() -> None:
        _instance_log(spec, f"Task timed out after {spec.timeout_s:.2f} seconds",
                      level="ERROR", request_id=ctx.aws_request_id)
        os._exit(124)
    watchdog = threading.Timer(spec.timeout_s, timed_out)
    watchdog.daemon = True
    watchdog.start()
    try:
        handler(event, ctx)
        return True
    except Exception as exc:
        _instance_log(spec, "invocation failed", level="ERROR", request_id=ctx.aws_request_id,
                      error=f"{type(exc).__name__}: {exc}", stack=traceback.format_exc())
        return False
    finally:
        watchdog.cancel()


def _sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _resolve_queue(spec: InstanceSpec, sqs, config: SQSEventConfig,
                   stop: StopSignal) -> tuple[str, str] | None:
    """(url, arn) of the handler's queue; waits for it to exist (it may be provisioned
    after the runtime starts). None when asked to stop first."""
    name = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
    kwargs: dict[str, str] = {"QueueName": name}
    if config.queue_arn:
        kwargs["QueueOwnerAWSAccountId"] = config.queue_arn.split(":")[4]
    delay = 0.2
    while not stop.is_set():
        try:
            url = sqs.get_queue_url(**kwargs)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return url, arn["Attributes"]["QueueArn"]
        except Exception as exc:   # missing queue or emulator not up yet: keep trying
            _instance_log(spec, "queue not available yet", level="WARNING", queue=name,
                          error=str(exc))
            stop.wait(delay)
            delay = min(delay * 2, 5.0)
    return None


def run_sqs_instance(spec: InstanceSpec, stop: StopSignal) -> None:
    """Entry point of one SQS worker instance (a spawned process)."""
    app, handler = _boot_instance(spec, stop)
    config = next(c for c in app.event_sources
                  if isinstance(c, SQSEventConfig) and c.name == spec.handler_name)
    import boto3
    sqs = boto3.client("sqs", region_name=spec.region)
    resolved = _resolve_queue(spec, sqs, config, stop)
    if resolved is None:
        return
    url, arn = resolved
    _instance_log(spec, "polling", queue=url)
    batch = max(1, min(int(config.batch_size or 1), 10))   # SQS hands out 10 at most
    while not stop.is_set():
        try:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=batch, WaitTimeSeconds=spec.poll_wait_s,
                MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
        except Exception as exc:
            _instance_log(spec, "receive failed", level="WARNING", error=str(exc))
            stop.wait(1.0)
            continue
        if not messages:
            continue
        event = {"Records": [_sqs_record(m, arn, spec.region) for m in messages]}
        if not _invoke(spec, handler, event):
            continue    # not deleted: visible again after the visibility timeout, then DLQ
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                   for i, m in enumerate(messages)]
        try:
            failed = sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed")
            if failed:
                _instance_log(spec, "delete failed", level="WARNING", failed=failed)
        except Exception as exc:
            _instance_log(spec, "delete failed", level="WARNING", error=str(exc))


def run_schedule_instance(spec: InstanceSpec, stop: StopSignal) -> None:
    """Entry point of a schedule's instance: fires every interval_s, first after one."""
    app, handler = _boot_instance(spec, stop)
    rule = f"{spec.function_name}-event"
    next_fire = time.monotonic() + spec.interval_s
    while not stop.wait(max(0.0, next_fire - time.monotonic())):
        next_fire += spec.interval_s
        event = {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": LOCAL_ACCOUNT_ID,
            "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": spec.region,
            "resources": [f"arn:aws:events:{spec.region}:{LOCAL_ACCOUNT_ID}:rule/{rule}"],
            "detail": {},
        }
        _invoke(spec, handler, event)
        if next_fire < time.monotonic():    # a slow run skips ticks, it does not bunch them
            next_fire = time.monotonic() + spec.interval_s


_ENTRY_POINTS = {"sqs": run_sqs_instance, "schedule": run_schedule_instance}


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
                 stop_grace_s: float = 3.0) -> None:
        self.app_ref, self.stage, self.host, self.port = app_ref, stage, host, port
        self.env = dict(env or {})
        self.schedule_interval_s = schedule_interval_s
        self.worker_concurrency = dict(worker_concurrency or {})
        self.project_dir = Path(project_dir).resolve()
        self.default_concurrency = default_concurrency
        self.http, self.access_log, self.poll_wait_s = http, access_log, poll_wait_s
        self.chalice_config = (chalice_config if chalice_config is not None
                               else read_chalice_config(self.project_dir))
        self.stop_grace_s = stop_grace_s
        self.app: Chalice | None = None
        self._server: _GatewayServer | None = None
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

    def start(self) -> "LocalRuntime":
        if self._started:
            raise RuntimeError("LocalRuntime already started")
        self._started = True
        try:
            self._apply_environ(self._function_env(API_FUNCTION_NAME))
            self.app = load_app(self.app_ref, self.project_dir)
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
        _thread_local_requests(self.app)
        config = function_config(self.chalice_config, self.stage, API_FUNCTION_NAME)
        self._server = _GatewayServer((self.host, self.port), self.app, config,
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
            target=_ENTRY_POINTS[slot.spec.kind], args=(slot.spec, self._stop),
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
