"""Product copy (POST /station/product/copy_task): chalicelib/service/copy_tasks.py."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.present import task_item, task_url
from chalicelib.kinds.base import CALLBACK_ERRORS, TaskKind
from chalicelib.service.copy_tasks import (TASK_NAME, CopyProcessor, CopyTaskRequest,
                                           CopyTaskService)

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services


def create(svc: "Services", station_id: str, req: CopyTaskRequest) -> dict[str, Any]:
    created = svc.kind(TASK_NAME).create(station_id, req)
    task = created.task
    return {"task_id": task.id, "task_url": task_url(task.id),
            "created": created.created, "task": task_item(task, svc.files)}


KIND = TaskKind(
    name=TASK_NAME, request_model=CopyTaskRequest,
    method="POST", path="/station/product/copy_task", view_name="product_copy_task",
    handle=create,
    summary="Copy products (by id or by filter) from one shop to another of the same station.",
    errors=(40002, 40400, 41300, *CALLBACK_ERRORS),
    service=lambda s: CopyTaskService(s.db, s.tasks, s.engine,
                                      max_items=s.settings.max_copy_items),
    processor=lambda s: CopyProcessor(s.product_center),
)
