"""Order batch import (POST /station/order/batch/submit): chalicelib/service/order_import.py."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.present import task_url
from chalicelib.kinds.base import CALLBACK_ERRORS, TaskKind
from chalicelib.service.order_import import (TASK_NAME, OrderBatchSubmit, OrderImportProcessor,
                                             OrderImportService)

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services


def submit(svc: "Services", station_id: str, req: OrderBatchSubmit) -> dict[str, Any]:
    created = svc.kind(TASK_NAME).submit(station_id, req)
    task_id = created.task.id
    return {"task_url": task_url(task_id), "task_id": task_id, "created": created.created}


KIND = TaskKind(
    name=TASK_NAME, request_model=OrderBatchSubmit,
    method="POST", path="/station/order/batch/submit", view_name="order_batch_submit",
    handle=submit,
    summary="Import a batch of orders: an import task (type 0) checks and inserts each row;"
            " bad rows are reported by row number (docs/imports.md).",
    errors=(40002, 40400, 41300, *CALLBACK_ERRORS),
    service=lambda s: OrderImportService(s.db, s.tasks, s.engine,
                                         max_rows=s.settings.order_import_max_rows,
                                         part_rows=s.settings.chunk_size),
    processor=lambda s: OrderImportProcessor(),
)
