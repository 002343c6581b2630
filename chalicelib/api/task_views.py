"""Public task endpoints: the seed's /task/get, /task/list, /task/clear_show, and
/task/cancel, /task/retry."""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import station_of
from chalicelib.api.http import json_body, parse_model
from chalicelib.api.present import task_item
from chalicelib.api.schemas import TaskGetQuery, TaskIdsBody, TaskListQuery, TaskRetryBody
from chalicelib.bootstrap import Services
from chalicelib.errors import InvalidInput


def get_task(request: Any, svc: Services) -> dict[str, Any]:
    q = parse_model(TaskGetQuery, request.query_params or {})
    task = svc.tasks.get(station_of(request), task_id=q.task_id, user_task_id=q.user_task_id)
    return task_item(task, svc.files)


def list_tasks(request: Any, svc: Services) -> dict[str, Any]:
    q = parse_model(TaskListQuery, request.query_params or {})
    settings = svc.settings
    limit = q.limit or settings.list_default_limit
    if limit > settings.list_max_limit:
        raise InvalidInput(f"limit: at most {settings.list_max_limit}")
    finish, tasks = svc.tasks.list(station_of(request), type_=q.type, status=q.status,
                                   limit=limit, offset=q.offset)
    return {"finish": finish, "tasks": [task_item(t, svc.files) for t in tasks],
            "limit": limit, "offset": q.offset}


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
