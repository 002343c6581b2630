"""GET /station/sales_analysis/orderdetail: export order lines (sync link or async task)."""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import station_of
from chalicelib.api.copy_views import task_url
from chalicelib.api.http import parse_model
from chalicelib.bootstrap import Services
from chalicelib.service.order_export import OrderDetailQuery


def order_detail(request: Any, svc: Services) -> dict[str, Any]:
    q = parse_model(OrderDetailQuery, request.query_params or {})
    data = svc.order_export.request(station_of(request), q)
    if data["async"]:
        data["task_url"] = task_url(data["task_id"])
    return data
