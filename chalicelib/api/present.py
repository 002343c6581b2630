"""How a task row is shown to clients: the seed's task item plus counts and links.

S3 keys stored in `result` are never shown; each becomes a presigned link that expires.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from chalicelib.adapters.aws import FileStore
from chalicelib.domain.eta import eta_seconds
from chalicelib.domain.task import Task
from chalicelib.observability import logger
from chalicelib.service.station_time import iso_in_zone
from chalicelib.service.task_files import LINKED_KEYS, is_own_key

_UNSET = object()


def utcnow() -> dt.datetime:
    """Naive UTC, like the stored times."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def linked_result(task: Task, files: FileStore) -> Any:
    """The task's result with each S3 key of its own replaced by an expiring link."""
    result = task.result
    if isinstance(result, dict):
        result = dict(result)
        for key_field, link_field in LINKED_KEYS.items():
            key = result.pop(key_field, None)
            if key and is_own_key(task.station_id, task.id, key):
                result[link_field] = files.link(key)
            elif key:       # never sign another object (a row written before the check)
                logger.warning("result names a key outside the task", extra={
                    "task_id": task.id, "field": key_field})
    return result


def task_item(task: Task, files: FileStore, eta: Any = _UNSET) -> dict[str, Any]:
    """The item; `eta` when the caller computed it already (eta_seconds at its `now`)."""
    result = linked_result(task, files)
    return {
        "task_id": task.id,
        "user_task_id": task.user_task_id or "",
        "task_name": task.name,
        "business_name": task.business_name,
        "status": int(task.status),
        "reason": task.reason,
        "progress": task.progress,
        "type": int(task.type),
        "result": result,
        "run_count": task.run_count,
        "cancelled": task.cancelled,
        "counts": {"total": task.total_items, "succeeded": task.succeeded_items,
                   "failed": task.failed_items, "cancelled": task.cancelled_items},
        "create_time": iso_in_zone(task.creat_time, task.station_id),
        "start_time": iso_in_zone(task.start_time, task.station_id),
        "end_time": iso_in_zone(task.end_time, task.station_id),
        "eta_seconds": eta_seconds(task, utcnow()) if eta is _UNSET else eta,
        # completion notifications (docs/notifications.md)
        "callback_url": task.callback_url,
        "notified_at": iso_in_zone(task.notified_at, task.station_id),
        "notify_attempts": task.notify_attempts,
        "notify_last_error": task.notify_last_error,
    }


def task_url(task_id: int) -> str:
    """Where the frontend polls a task."""
    return f"/task/get?task_id={task_id}"


def failure_item(row: dict[str, Any], station_id: str) -> dict[str, Any]:
    return {"seq": row["seq"], "item_id": row["item_id"], "reason": row["reason"],
            "finish_time": iso_in_zone(row["finish_time"], station_id)}
