"""POST /station/product/copy_task: start a product copy from one shop to another."""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import station_of
from chalicelib.api.http import json_body, parse_model
from chalicelib.api.present import task_item
from chalicelib.bootstrap import Services
from chalicelib.service.copy_tasks import CopyTaskRequest


def task_url(task_id: int) -> str:
    return f"/task/get?task_id={task_id}"


def create_copy_task(request: Any, svc: Services) -> dict[str, Any]:
    req = parse_model(CopyTaskRequest, json_body(request.raw_body))
    created = svc.copy_tasks.create(station_of(request), req)
    task = created.task
    return {"task_id": task["id"], "task_url": task_url(task["id"]),
            "created": created.created, "task": task_item(task, svc.files)}
