"""POST /station/order/batch/submit: start an order batch import (answered at once)."""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import station_of
from chalicelib.api.copy_views import task_url
from chalicelib.api.http import json_body, parse_model
from chalicelib.bootstrap import Services
from chalicelib.service.order_import import OrderBatchSubmit


def submit_order_batch(request: Any, svc: Services) -> dict[str, Any]:
    req = parse_model(OrderBatchSubmit, json_body(request.raw_body))
    created = svc.order_import.submit(station_of(request), req)
    task_id = created.task["id"]
    return {"task_url": task_url(task_id), "task_id": task_id, "created": created.created}
