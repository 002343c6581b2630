"""Public task endpoints: the seed's /task/get, /task/list, /task/clear_show, and
/task/cancel, /task/retry, /task/failures.

/task/get and /task/list carry an ETag and answer 304 to a matching If-None-Match
(chalicelib/api/conditional.py); the tag is computed from the rows before the answer is
built, so a 304 costs the one read and nothing else.
"""
from __future__ import annotations

from typing import Any

from chalicelib.adapters.task_repo import ListQuery
from chalicelib.api import conditional
from chalicelib.api.auth import station_of
from chalicelib.api.http import json_body, parse_model
from chalicelib.api.present import failure_item, linked_result, task_item, utcnow
from chalicelib.api.schemas import (TaskFailuresQuery, TaskGetQuery, TaskIdsBody,
                                    TaskListQuery, TaskRetryBody)
from chalicelib.bootstrap import Services
from chalicelib.domain.eta import eta_seconds
from chalicelib import texts
from chalicelib.errors import InvalidInput
from chalicelib.service.station_time import zone_for
from chalicelib.service.task_failures import failures_page


def get_task(request: Any, svc: Services) -> Any:
    q = parse_model(TaskGetQuery, request.query_params or {})
    station = station_of(request)
    task = svc.tasks.get(station, task_id=q.task_id, user_task_id=q.user_task_id)
    eta = eta_seconds(task, utcnow())
    tag = conditional.etag_of(svc.settings, station, "get", str(zone_for(station)),
                              q.task_id, q.user_task_id, task, eta)
    if conditional.matches(request, tag):
        return conditional.not_modified(tag)
    return conditional.tagged(task_item(task, svc.files, eta), tag)


def list_tasks(request: Any, svc: Services) -> Any:
    q = parse_model(TaskListQuery, request.query_params or {})
    settings = svc.settings
    limit = q.limit or settings.list_default_limit
    if limit > settings.list_max_limit:
        raise InvalidInput(texts.AT_MOST(limit=settings.list_max_limit), field="limit")
    station = station_of(request)
    page = svc.tasks.list(ListQuery(station_id=station, type_=q.type, status=q.status,
                                    q=q.q or None, limit=limit, cursor=q.cursor,
                                    offset=q.offset))
    now = utcnow()
    etas = [eta_seconds(t, now) for t in page.rows]
    next_cursor = page.rows[-1].id if page.more and page.rows else None
    tag = conditional.etag_of(settings, station, "list", str(zone_for(station)),
                              (q.type, q.status, q.q, limit, q.cursor, q.offset),
                              page.busy, page.total, next_cursor, page.rows, etas)
    if conditional.matches(request, tag):
        return conditional.not_modified(tag)
    return conditional.tagged({
        "finish": not page.busy,
        "tasks": [task_item(t, svc.files, eta) for t, eta in zip(page.rows, etas)],
        "total": page.total, "next_cursor": next_cursor, "limit": limit, "offset": q.offset,
    }, tag)


def failures(request: Any, svc: Services) -> dict[str, Any]:
    q = parse_model(TaskFailuresQuery, request.query_params or {})
    station = station_of(request)
    page = failures_page(svc.db, station, q.task_id, after_seq=q.cursor, limit=q.limit)
    result = linked_result(page.task, svc.files)
    report = result.get("error_report_url") if isinstance(result, dict) else None
    return {"task_id": page.task.id, "total": page.task.failed_items,
            "failures": [failure_item(row, station) for row in page.rows],
            "next_cursor": page.rows[-1]["seq"] if page.more else None,
            "error_report_url": report}


def clear_show(request: Any, svc: Services) -> None:
    body = parse_model(TaskIdsBody, json_body(request.raw_body))
    svc.tasks.clear_show(station_of(request), task_ids=body.task_ids,
                         user_task_ids=body.user_task_ids)
    return None


def cancel(request: Any, svc: Services) -> dict[str, Any]:
    body = parse_model(TaskIdsBody, json_body(request.raw_body))
    report = svc.control.cancel(station_of(request), task_ids=body.task_ids,
                                user_task_ids=body.user_task_ids)
    return {"cancelled": report.cancelled, "already_final": report.already_final}


def retry(request: Any, svc: Services) -> dict[str, Any]:
    body = parse_model(TaskRetryBody, json_body(request.raw_body))
    task = svc.control.retry(station_of(request), body.task_id)
    return {"task_id": task.id, "run_count": task.run_count, "status": int(task.status)}
