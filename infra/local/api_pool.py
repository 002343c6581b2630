"""The API as Lambda serves it: a pool of instance processes behind the front server.

Each API instance is a spawned process that imports the app once and then handles one
API Gateway proxy event at a time (`app(event, context)`, the handler Chalice deploys),
keeping its warm state (settings, clients, its one DB connection) between requests.
Instances are started on demand, one per request that finds no idle one, up to the API
concurrency (the stage's `reserved_concurrency` of `api_handler`); a request beyond it is
throttled at once, as Lambda throttles (429, `{code: 42900, msg}`), and an instance idle
for `idle_s` is ended. An invocation past the function's `lambda_timeout` ends its instance
(504); an instance that dies mid-request answers 502.

Requests reach the pool from the front server (infra/local/api_front.py), which reads each
one whole under a deadline first; serve_pooled() builds both for the runtime.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from typing import Any, Callable

from chalice.config import Config

from infra.gateway_responses import GATEWAY_RESPONSES
from infra.local.api_front import READ_TIMEOUT_S, PooledGatewayServer
from infra.local.instances import InstanceSpec, StopSignal, _boot_instance, _context, _instance_log

log = logging.getLogger("local-runtime")

DEFAULT_API_CONCURRENCY = 10      # when the stage reserves none (Lambda's account pool is 1000)
INIT_TIMEOUT_S = 30.0             # a cold instance must be ready within this
IDLE_S = 600.0                    # an instance idle this long is ended


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
UNAVAILABLE = (503, *GATEWAY_RESPONSES["AUTHORIZER_FAILURE"][1:])  # no instance ready


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

    Concurrency is counted as Lambda counts it, in requests in flight: a request beyond
    `limit` of them is throttled at once. A request that finds no idle instance starts one
    (at most `max_booting` boot at a time, so a burst does not start every cold start at
    once on a small machine) and is served by the first instance that is free: the new one
    once it is ready, or a warm one that finished meanwhile (Lambda would hold it for its
    own new sandbox; here it never waits longer than that).

    spec_for(index) builds the InstanceSpec of instance `index`; `mp` is the runtime's
    spawn context and `stop` its stop signal. `warm` instances are started at once.
    Thread-safe: the front server calls invoke() from many threads.
    """

    def __init__(self, spec_for: Callable[[int], InstanceSpec], mp: Any, stop: StopSignal,
                 limit: int, *, timeout_s: float, warm: int = 1, idle_s: float = IDLE_S,
                 init_timeout_s: float = INIT_TIMEOUT_S,
                 max_booting: int = max(2, os.cpu_count() or 2)) -> None:
        if limit < 1:
            raise ValueError("API concurrency must be at least 1")
        self.limit, self.timeout_s, self.idle_s = limit, timeout_s, idle_s
        self.init_timeout_s, self.max_booting = init_timeout_s, max_booting
        self._spec_for, self._mp, self._stop = spec_for, mp, stop
        self._instances: list[_Instance] = []
        self._cond = threading.Condition()
        self._indexes = itertools.count()
        self._in_flight = self._waiting = 0
        self.throttled = 0
        with self._cond:
            for _ in range(min(warm, limit)):
                self._spawn()

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [i.process.pid for i in self._instances]

    def invoke(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The instance's response to one proxy event (or the gateway's error response)."""
        with self._cond:
            if self._in_flight >= self.limit:
                self.throttled += 1
                return _envelope(*THROTTLED, headers={"Retry-After": "1"})
            self._in_flight += 1
        try:
            inst = self._acquire()
            if inst is None:
                return _envelope(*UNAVAILABLE)
            return self._call(inst, event)
        finally:
            with self._cond:
                self._in_flight -= 1

    def stop(self, grace_s: float = 3.0) -> None:
        """After the runtime's stop signal: join the instances, then end stragglers by PID."""
        with self._cond:
            instances, self._instances = self._instances, []
            self._cond.notify_all()
        deadline = time.monotonic() + grace_s
        for inst in instances:
            inst.process.join(max(0.0, deadline - time.monotonic()))
        for inst in instances:
            self._end(inst)

    # -- internals ------------------------------------------------------------------------
    def _call(self, inst: _Instance, event: dict[str, Any]) -> dict[str, Any]:
        try:
            inst.conn.send(event)
            if not inst.conn.poll(self.timeout_s):
                log.error("API instance %s timed out after %.0f s", inst.process.pid,
                          self.timeout_s)
                self._discard(inst)
                return _envelope(*TIMED_OUT)
            kind, payload = inst.conn.recv()
        except (EOFError, OSError) as exc:
            log.error("API instance %s failed: %s", inst.process.pid, exc)
            self._discard(inst)
            return _envelope(*CRASHED)
        with self._cond:
            inst.busy, inst.last_used = False, time.monotonic()
            self._cond.notify()
        return payload if kind == "ok" else _envelope(*CRASHED)

    def _spawn(self) -> _Instance:
        spec = self._spec_for(next(self._indexes))
        parent, child = self._mp.Pipe(duplex=True)
        proc = self._mp.Process(target=run_api_instance, args=(spec, self._stop, child),
                                name=f"{spec.function_name}#{spec.index}", daemon=True)
        proc.start()
        child.close()
        inst = _Instance(spec.index, proc, parent, last_used=time.monotonic())
        self._instances.append(inst)
        threading.Thread(target=self._await_ready, args=(inst,), daemon=True,
                         name=f"api-boot-{spec.index}").start()
        return inst

    def _await_ready(self, inst: _Instance) -> None:
        try:
            ready = inst.conn.poll(self.init_timeout_s) and inst.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            log.error("API instance %s did not start", inst.process.pid)
            self._discard(inst)
            return
        with self._cond:
            inst.ready, inst.last_used = True, time.monotonic()
            self._cond.notify()

    def _acquire(self) -> _Instance | None:
        deadline = time.monotonic() + self.init_timeout_s
        with self._cond:
            self._reap(time.monotonic())
            self._waiting += 1
            try:
                while True:
                    for inst in self._instances:
                        if inst.ready and not inst.busy:
                            inst.busy = True
                            return inst
                    booting = sum(1 for i in self._instances if not i.ready)
                    if (booting < min(self._waiting, self.max_booting)
                            and len(self._instances) < self.limit):
                        self._spawn()
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stop.is_set():
                        return None
                    self._cond.wait(left)
            finally:
                self._waiting -= 1

    def _reap(self, now: float) -> None:
        """End instances idle past idle_s (Lambda recycles idle sandboxes) and dead ones."""
        for inst in list(self._instances):
            if inst.ready and not inst.busy and (now - inst.last_used > self.idle_s
                                                 or not inst.process.is_alive()):
                self._instances.remove(inst)
                threading.Thread(target=self._end, args=(inst,), daemon=True).start()

    def _discard(self, inst: _Instance) -> None:
        with self._cond:
            if inst in self._instances:
                self._instances.remove(inst)
            self._cond.notify_all()
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


def api_concurrency(runtime: Any, config: Config) -> int:
    """The runtime's api_concurrency, else the stage's reserved concurrency of the API
    function, else API_CONCURRENCY of its environment, else DEFAULT_API_CONCURRENCY."""
    env = runtime._function_env("api_handler")
    return int(runtime.api_concurrency or config.reserved_concurrency
               or env.get("API_CONCURRENCY") or DEFAULT_API_CONCURRENCY)


def serve_pooled(runtime: Any, config: Config) -> tuple[PooledGatewayServer, ApiPool]:
    """The runtime's hook: the pool of API instances and the front server in front of it."""
    runtime.api_concurrency = api_concurrency(runtime, config)
    pool = ApiPool(lambda index: runtime._spec("api", "api_handler", index), runtime._mp,
                   runtime._stop, runtime.api_concurrency,
                   timeout_s=float(config.lambda_timeout or 60))
    server = PooledGatewayServer((runtime.host, runtime.port), runtime.app, config,
                                 runtime.access_log, pool,
                                 read_timeout_s=runtime.api_read_timeout_s or READ_TIMEOUT_S)
    return server, pool


def check_connection_budget(runtime: Any) -> Any:
    """The runtime's start-up check: the API pool's and the workers' concurrency as this
    runtime will run them, against the stage's DB_CONNECTION_BUDGET (connection_budget.py)."""
    from chalice.app import SQSEventConfig

    from chalicelib.config import Settings
    from chalicelib.connection_budget import check
    env = runtime._function_env("api_handler")
    settings = Settings.from_env(env)
    config = runtime_config(runtime)
    api = api_concurrency(runtime, config) if runtime.api_pool else settings.api_concurrency
    workers = sum(int(runtime.worker_concurrency.get(
        s.name, s.maximum_concurrency or runtime.default_concurrency))
        for s in runtime.app.event_sources if isinstance(s, SQSEventConfig))
    return check(api, workers, settings.db_connection_budget)


def runtime_config(runtime: Any) -> Config:
    from infra.local.runtime import API_FUNCTION_NAME, function_config
    return function_config(runtime.chalice_config, runtime.stage, API_FUNCTION_NAME)
