"""Structured logging for every handler (Powertools Logger), wired in by Chalice middleware.

The correlation id is the request id for HTTP, the task id for queue work, so one task's
lines can be followed across the API, the workers and the sweeper.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="async-task")
metrics = Metrics(namespace="AsyncTask", service="async-task")


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
        break
    try:
        return get_response(event)
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)


def schedule_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    logger.set_correlation_id(getattr(event, "event_id", "") or "")
    try:
        return get_response(event)
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)
