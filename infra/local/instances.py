"""Instances of the local runtime: one spawned process per concurrent Lambda instance.

Each instance boots like a Lambda sandbox (environment, the app imported fresh, warm state
kept between events) and then either long-polls its SQS queue or fires its schedule,
calling the handler Chalice deploys as `handler(event, context)` with Lambda-shaped events.
An invocation past the function's timeout ends the instance, as Lambda ends a sandbox.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from chalice.app import Chalice, SQSEventConfig
from chalice.local import LambdaContext

LOCAL_ACCOUNT_ID = "123456789012"


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


@dataclasses.dataclass(frozen=True)
class InstanceSpec:
    """Everything a spawned instance needs; picklable."""
    kind: str                     # "sqs", "schedule" or "api"
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
    # the API function's handler is the app object itself (Chalice deploys `app.app`)
    return app, app if spec.kind == "api" else app.handler_map[spec.handler_name]


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


ENTRY_POINTS = {"sqs": run_sqs_instance, "schedule": run_schedule_instance}
