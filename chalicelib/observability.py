"""Structured logging for every handler (Powertools Logger), wired in by Chalice middleware.

The correlation id is the request id for HTTP, the task id for queue work, so one task's
lines can be followed across the API, the workers and the sweeper.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="async-task")
metrics = Metrics(namespace="AsyncTask", service="async-task")


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
        ms = seconds * 1000
        with self._lock:
            stat = self._stats.setdefault(name, [0, 0.0, 0.0])
            stat[0] += 1
            stat[1] += ms
            stat[2] = max(stat[2], ms)

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


def http_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    headers = event.headers or {}
    request_id = (headers.get("x-correlation-id")
                  or (event.context or {}).get("requestId") or uuid.uuid4().hex)
    logger.set_correlation_id(request_id)
    logger.append_keys(path=event.path, method=event.method)
    response = get_response(event)
    response.headers["X-Correlation-Id"] = request_id
    logger.info("request", extra={"status": response.status_code})
    logger.remove_keys(["path", "method"])
    return response


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
        timings.publish()
        metrics.flush_metrics(raise_on_empty_metrics=False)


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
    try:
        return get_response(event)
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)
