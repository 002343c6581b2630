"""Structured logging and metrics for every handler (Powertools), wired in by Chalice middleware.

As Chalice's docs show for Powertools: `ConvertToMiddleware(logger.inject_lambda_context)`
adds the Lambda context (function name, request id, cold_start) to every log line, and
`ConvertToMiddleware(metrics.log_metrics(capture_cold_start_metric=True))` emits the
ColdStart metric and flushes the invocation's metrics for every kind of event (HTTP
included). Service name and namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE (.chalice/config.json), never from the code.

The correlation id is the request id for HTTP, the task id for queue work, so one task's
lines can be followed across the API, the workers and the sweeper.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
import warnings
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics
from chalice import ConvertToMiddleware

logger = Logger()        # service: POWERTOOLS_SERVICE_NAME
metrics = Metrics()      # namespace: POWERTOOLS_METRICS_NAMESPACE, service as above
# Most HTTP requests add no metric of their own; log_metrics says so on every flush.
warnings.filterwarnings("ignore", message="No application metrics to publish")


class Timings:
    """Per-call durations and counts (e.g. each downstream request or retry, from many
    threads) summed up and published once per invocation: <name>AvgMs, <name>MaxMs and
    <name>Count for durations, <name> for counts; not one EMF value per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, list[float]] = {}     # name -> [count, total_ms, max_ms]
        self._counts: dict[str, int] = {}
        self._gauges: dict[str, float] = {}

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def gauge(self, name: str, value: float) -> None:
        """A level (e.g. the current budget): the last value is published."""
        with self._lock:
            self._gauges[name] = value

    def observe(self, name: str, seconds: float) -> None:
        # Called once per downstream call from every item thread: no list made per call
        # (setdefault's default) and no max() call while the lock is held.
        ms = seconds * 1000
        with self._lock:
            stat = self._stats.get(name)
            if stat is None:
                self._stats[name] = [1, ms, ms]
                return
            stat[0] += 1
            stat[1] += ms
            if ms > stat[2]:
                stat[2] = ms

    def publish(self) -> dict[str, float]:
        """Add the sums to the invocation's metrics and start again; returns what it added."""
        with self._lock:
            stats, self._stats = self._stats, {}
            counts, self._counts = self._counts, {}
            gauges, self._gauges = self._gauges, {}
        published: dict[str, float] = {name: float(n) for name, n in counts.items()}
        published.update(gauges)
        for name, (count, total, peak) in stats.items():
            published.update({f"{name}AvgMs": total / count, f"{name}MaxMs": peak,
                              f"{name}Count": count})
        for name, value in published.items():
            unit = ("Count/Second" if name in gauges
                    else "Milliseconds" if name.endswith("Ms") else "Count")
            metrics.add_metric(name=name, unit=unit, value=value)
        return published


timings = Timings()

# Request headers a browser on the allowed origin may send (besides the simple ones).
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Correlation-Id", "X-Auth-Key",
                      "If-None-Match")


def register(app: Any) -> None:
    """Wire the middlewares into a Chalice app, outermost first: the Lambda context into
    the logger, the metrics flush (with ColdStart), then this module's per-event ones."""
    app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context), "all")
    app.register_middleware(
        ConvertToMiddleware(metrics.log_metrics(capture_cold_start_metric=True)), "all")
    app.register_middleware(http_middleware, "http")
    app.register_middleware(sqs_middleware, "sqs")
    app.register_middleware(schedule_middleware, "scheduled")


def http_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    headers = event.headers or {}
    request_id = (headers.get("x-correlation-id")
                  or (event.context or {}).get("requestId") or uuid.uuid4().hex)
    logger.set_correlation_id(request_id)
    logger.append_keys(path=event.path, method=event.method)
    response = get_response(event)
    response.headers["X-Correlation-Id"] = request_id
    _refuse_other_origins(headers.get("origin"), response.headers)
    logger.info("request", extra={"status": response.status_code})
    logger.remove_keys(["path", "method"])
    return response


def _refuse_other_origins(origin: str | None, headers: dict[str, str]) -> None:
    """A request from an origin the stage does not allow gets no CORS grant at all (the
    browser then says "No 'Access-Control-Allow-Origin' header is present")."""
    allowed = headers.get("Access-Control-Allow-Origin")
    if allowed is None:
        return
    vary = headers.get("Vary")          # keep what the view varies on (Authorization)
    headers["Vary"] = f"{vary}, Origin" if vary and "Origin" not in vary else vary or "Origin"
    if origin is not None and origin != allowed:
        for name in [h for h in headers if h.lower().startswith("access-control-")]:
            del headers[name]


def sqs_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    for record in event:
        try:
            body = json.loads(record.body)
            logger.set_correlation_id(str(body.get("task_id", "")))
        except (ValueError, AttributeError):
            logger.set_correlation_id("")
        _queue_metrics(record.to_dict().get("attributes") or {})
        break
    try:
        return get_response(event)
    finally:
        timings.publish()        # flushed by log_metrics around this


def _queue_metrics(attributes: dict[str, Any]) -> None:
    """Queue lag (sent -> handed to this worker) and redeliveries, from SQS's attributes."""
    try:
        sent_ms = int(attributes["SentTimestamp"])
    except (KeyError, TypeError, ValueError):
        return
    metrics.add_metric(name="QueueLagMs", unit="Milliseconds",
                       value=max(0, time.time() * 1000 - sent_ms))
    if int(attributes.get("ApproximateReceiveCount", 1) or 1) > 1:
        metrics.add_metric(name="Redeliveries", unit="Count", value=1)


def schedule_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    logger.set_correlation_id(getattr(event, "event_id", "") or "")
    return get_response(event)
