"""Order detail export (GET /station/sales_analysis/orderdetail): service/order_export.py."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.present import task_url
from chalicelib.kinds.base import CALLBACK_ERRORS, TaskKind
from chalicelib.service.export_query import OrderDetailQuery
from chalicelib.service.order_export import ExportProcessor, OrderExportService, TASK_NAME

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services


def order_detail(svc: "Services", station_id: str, q: OrderDetailQuery) -> dict[str, Any]:
    data = svc.kind(TASK_NAME).request(station_id, q)
    if data["async"]:
        data["task_url"] = task_url(data["task_id"])
    return data


SUMMARY = ("Export order lines: at most 20 matching orders answer {async: 0, link}, more start"
           " an export task and answer {async: 1, task_url}.")

# On the engine: one item (the file), run by a StreamProcessor under a kept lease.
KIND = TaskKind(
    name=TASK_NAME, request_model=OrderDetailQuery, method="GET",
    path="/station/sales_analysis/orderdetail", view_name="order_detail_export",
    handle=order_detail, summary=SUMMARY, errors=(40400, *CALLBACK_ERRORS),
    service=lambda s: OrderExportService(s.db, s.tasks, s.engine, s.files, s.settings),
    processor=lambda s: ExportProcessor(s.db, s.files, s.settings),
)
